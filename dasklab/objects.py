"""The object store from the host, through the `minio` SDK (any S3 backend).

python -m dasklab.objects list     # buckets and objects with sizes (make objects)
python -m dasklab.objects ensure   # create the lab's bucket if missing (make up)
"""

from __future__ import annotations

import sys
from urllib.parse import urlparse

from dask.utils import format_bytes

from .settings import REGION, SettingsError, host_s3_env, load, validate


class StoreDown(RuntimeError):
    pass


def minio_client(values: dict[str, str] | None = None, secret: str | None = None,
                 http_client=None):
    """A minio SDK client for the store's published port. `region=` is needed:
    without it the SDK asks the store for the bucket's region first."""
    from minio import Minio

    env = host_s3_env(values or validate(load()))
    url = urlparse(env["AWS_ENDPOINT_URL"])
    return Minio(url.netloc, access_key=env["AWS_ACCESS_KEY_ID"],
                 secret_key=secret or env["AWS_SECRET_ACCESS_KEY"],
                 secure=url.scheme == "https", region=REGION, http_client=http_client)


def ensure_bucket(client, bucket: str) -> bool:
    """Create `bucket` when missing (MinIO's root user can; Garage's entrypoint
    already made it). Returns True when it was created."""
    if client.bucket_exists(bucket):
        return False
    client.make_bucket(bucket)
    return True


def bucket_ready(values: dict[str, str]) -> bool:
    """The lab's bucket answers at the host's S3 endpoint (for polling: any
    error is a "not yet", each try bounded to a few seconds)."""
    import urllib3

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=5),
                               retries=urllib3.Retry(total=0))
    try:
        return minio_client(values, http_client=http).bucket_exists(values["DASKLAB_BUCKET"])
    except Exception:  # noqa: BLE001 - down, refusing, not initialised: not ready
        return False


def listing(client) -> list[dict]:
    rows = []
    for bucket in client.list_buckets():
        for obj in client.list_objects(bucket.name, recursive=True):
            rows.append({"bucket": bucket.name, "object": obj.object_name, "bytes": obj.size})
        if not any(r["bucket"] == bucket.name for r in rows):
            rows.append({"bucket": bucket.name, "object": "(empty)", "bytes": 0})
    return rows


def main(argv: list[str]) -> int:
    import urllib3

    command = argv[0] if argv else "list"
    try:
        values = validate(load())
        client = minio_client(values)
        if command == "ensure":
            if ensure_bucket(client, values["DASKLAB_BUCKET"]):
                print(f"[store] created bucket {values['DASKLAB_BUCKET']}")
            return 0
        if command != "list":
            print("usage: python -m dasklab.objects [list|ensure]", file=sys.stderr)
            return 2
        rows = listing(client)
    except SettingsError as e:
        print(f"error: invalid settings:\n{e}", file=sys.stderr)
        return 2
    except (urllib3.exceptions.HTTPError, OSError) as e:
        print(f"error: the object store at {host_s3_env(values)['AWS_ENDPOINT_URL']} does not "
              f"answer ({type(e).__name__}). Start the cluster with `make up`.", file=sys.stderr)
        return 3
    total = sum(r["bytes"] for r in rows)
    for r in rows:
        print(f"  {r['bytes']:>14,}  {r['bucket']}/{r['object']}")
    print(f"  {len([r for r in rows if r['object'] != '(empty)'])} objects, {format_bytes(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
