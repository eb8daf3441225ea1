"""The security scenario on the test cluster: the audit's verdict, the
least-privilege refusals and the scheduler running a client's payload."""



def test_security_audit_least_privilege_and_the_scheduler_lesson(lab, scenario):
    result = scenario("security")
    assert result.passed, result.notes + [result.error or ""]
    rows = {r["service"]: r for r in result.tables["audit"]}
    assert set(rows) >= {"scheduler", "worker-1", "worker-2", "worker-3", "store", "wheels"}
    for service, row in rows.items():
        # Checked from inside: no capability left, no privilege to gain, no root.
        assert row["cap_eff"] == "0000000000000000" and row["no_new_privs"], service
        assert "0" not in row["uids"].split(","), service
        assert all(p.startswith("127.0.0.1:") for p in row["published"].split(", ")
                   if p != "-"), service
    assert {s for s, r in rows.items() if r["read_only"]} == {"store", "wheels"}
    assert rows["scheduler"]["secrets"] == "-" and rows["wheels"]["secrets"] == "-"
    lp = {(r["action"], r["path"].split("/")[0]): r["outcome"]
          for r in result.tables["least_privilege"]}
    bucket = lab.settings["DASKLAB_BUCKET"]
    assert lp[("read", f"{bucket}-ref")] == "ok: reference data"
    assert lp[("write", f"{bucket}-ref")].startswith("refused: Forbidden")
    assert lp[("delete", f"{bucket}-ref")].startswith("refused: Forbidden")
    assert lp[("write", bucket)] == "ok"
    ran = result.measurements["payload_ran_in_scheduler"]
    assert ran and ran[0]["pid"] == result.measurements["scheduler_pid"]
    assert ran[0]["host"] == "scheduler"
