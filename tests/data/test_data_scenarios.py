"""Integration tests: the "distributed data" scenarios, at CI sizes."""

from dasklab.settings import named_workers


def test_source_data_workers_read_directly(lab, scenario):
    r = scenario("source-data", files=6, rows=40_000)
    m = r.measurements
    assert r.verdict == "pass", r.notes + [r.error or ""]
    # (a) every byte of the dataset came into the client and went out again.
    assert m["a_client_bytes_in"] >= m["dataset_bytes"]
    assert m["a_client_bytes_out"] >= m["dataset_bytes"]
    # (b) the data never touched the client.
    assert m["b_client_bytes_in"] + m["b_client_bytes_out"] < m["dataset_bytes"] / 10
    assert "FileNotFoundError" in m["trap_error"]


def test_scatter_vs_embedding_and_lost_scattered_data(lab, scenario):
    r = scenario("scatter", size_mb=16, tasks=4)
    m = r.measurements
    assert r.verdict == "pass", r.notes + [r.error or ""]
    assert m["embedded_client_sent"] >= 4 * m["object_bytes"]
    assert m["scatter_client_sent"] < 1.5 * m["object_bytes"]
    assert m["broadcast_copies"] == 3
    assert "large graph" in m["warning"].lower()
    assert m["lost_future_status"] in ("lost", "cancelled")
    assert set(lab.workers_by_name()) == set(named_workers())


def test_worker_local_data_follows_the_volume(lab, scenario):
    r = scenario("worker-local", rows=10_000)
    m = r.measurements
    assert r.verdict == "pass", r.notes + [r.error or ""]
    assert m["digest_read_back"] == m["digest_written"] == m["digest_after_restart"]
    assert m["visible_on"] == "worker-2"
    assert m["exists_after_new_volume"] is False


def test_output_is_complete_verified_and_never_partial(lab, scenario):
    # 4 x 600k rows = 77 MB in memory: enough for the client's peak to show.
    r = scenario("output", partitions=4, rows=600_000)
    m = r.measurements
    assert r.verdict == "pass", r.notes + [r.error or ""]
    assert m["a_objects"] == m["a_objects_verified"] == 4
    assert m["b_objects"] == m["b_objects_verified"] == 4
    assert 0 < m["failed_run_staged_after_all_tasks"] < 4
    assert m["staging_leftovers"] == 0
    assert m["b_client_peak_mem"] > 2 * m["a_client_peak_mem"]
