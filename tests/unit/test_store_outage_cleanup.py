"""Unit test: cleaning up multipart uploads after a store outage tolerates an
upload that finished or was aborted between the listing and the abort (seen
once in a repeat run: NoSuchUpload ended the scenario in an error)."""

from scenarios.resilience import store_outage


class _Store:
    def __init__(self, gone: set[str]):
        self.gone, self.aborted = gone, []

    def call_s3(self, method, **kw):
        assert method == "abort_multipart_upload"
        if kw["UploadId"] in self.gone:
            raise FileNotFoundError("Upload not found")  # s3fs's NoSuchUpload
        self.aborted.append(kw["UploadId"])


def test_an_upload_gone_meanwhile_does_not_stop_the_cleanup(monkeypatch):
    store = _Store(gone={"u1"})
    monkeypatch.setattr(store_outage, "s3", lambda: store)
    monkeypatch.setattr(store_outage, "bucket", lambda: "dasklab")
    store_outage._abort([{"Key": "a", "UploadId": "u1"}, {"Key": "b", "UploadId": "u2"}])
    assert store.aborted == ["u2"]
