"""The costs scenario on the test cluster: per-tag numbers from Dask's span
metrics agree with Docker's per-container CPU accounting, and the labels a
bill would filter on are on the containers."""

from dasklab.backends.docker_api import project_containers


def test_costs_per_tag_agree_with_docker_and_order_the_tags_the_same(lab, scenario):
    result = scenario("costs", tasks=6, iterations=600_000, ratio=3)
    assert result.passed, result.notes + [result.error or ""]
    rows = {r["tag"]: r for r in result.tables["per_tag"]}
    etl, train = rows["etl"], rows["train"]
    # Three times the work: between 1.5x and 6x the CPU in both accounts.
    assert 1.5 < train["cpu_s"] / etl["cpu_s"] < 6
    assert 1.5 < train["docker_cpu_s"] / etl["docker_cpu_s"] < 6
    for row in rows.values():
        assert 0.9 <= row["docker_cpu_s"] / row["cpu_s"] <= 2.0
        assert row["tasks"] == 7 and row["cpu_s_reserved"] >= row["cpu_s"]
        assert float(row["cost_reserved"]) >= float(row["cost_used"]) > 0


def test_every_container_carries_the_lab_and_cost_center_labels(lab):
    found = project_containers(lab.compose.project, running_only=True)
    assert {c.labels["com.docker.compose.service"] for c in found} >= {
        "scheduler", "worker-1", "worker-2", "worker-3", "store", "wheels"}
    for c in found:
        assert c.labels["dasklab.lab"] == "true"
        assert c.labels["dasklab.cost-center"] == lab.settings["COST_CENTER"]
