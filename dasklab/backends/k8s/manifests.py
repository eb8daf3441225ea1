"""Kubernetes manifests for the dask-kubernetes operator, from docker-compose.yml.

    python -m dasklab.backends.k8s.manifests [--image IMAGE] [--out build/k8s] [--k8s-version 1.33.0]

Writes, from the same rendered compose config as `make up` (one source of truth):

  00-config.yaml     ConfigMaps: dask.yaml, garage.toml
  01-secrets.yaml    Secrets: the workers' S3 key; the store's keys and tokens
  10-store.yaml      the store: a StatefulSet with a volume claim, and its Service
  20-daskcluster.yaml  a DaskCluster (the operator's own make_cluster_spec), with
                     the lab's image, worker command, sizing and config

and validates every document offline before writing: core kinds against
the Kubernetes JSON schemas (kubernetes-validate, strict), the DaskCluster
against the CRD schema shipped in the dask-kubernetes package. Nothing here
can deploy them (no Kubernetes runs on this machine): rendered and
validated, not applied. README, "Outgrowing one machine", says how to apply.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...settings import ROOT, compose_files, load, memory_bytes, validate

OUT = ROOT / "build" / "k8s"
K8S_VERSION = "1.33.0"
NAME = "dasklab"
WORKER_HTTP = 8788  # the operator's worker port name http-dashboard
SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_WORKER_KEY_ID",
               "S3_WORKER_SECRET", "GARAGE_RPC_SECRET", "GARAGE_ADMIN_TOKEN")


class ManifestError(ValueError):
    pass


def _quantity(compose_bytes: str) -> str:
    n = int(compose_bytes)
    return f"{n // 2**30}Gi" if n % 2**30 == 0 else f"{n // 2**20}Mi"


def _env(environment: dict[str, str], secret: str) -> list[dict]:
    out = []
    for key, value in sorted(environment.items()):
        if key in SECRET_KEYS:
            out.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
        else:
            out.append({"name": key, "value": str(value)})
    return out


def _security(uid: int, read_only: bool) -> dict:
    # Compose's hardening in Kubernetes' words (no-new-privileges, cap_drop ALL).
    return {"runAsNonRoot": True, "runAsUser": uid, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": read_only, "capabilities": {"drop": ["ALL"]}}


def _exec_probe(healthcheck: dict) -> dict:
    test = healthcheck["test"]
    if test[0] != "CMD":
        raise ManifestError(f"healthcheck {test[0]} cannot become an exec probe")
    return {"exec": {"command": test[1:]}, "periodSeconds": 5, "timeoutSeconds": 5,
            "failureThreshold": int(healthcheck.get("retries", 3))}


def worker_args(command: list[str]) -> list[str]:
    """The lab's worker command, as the operator runs workers: the scheduler
    address comes from DASK_SCHEDULER_ADDRESS (the controller sets it), the
    name from DASK_WORKER_NAME, and the pod IP is the worker's address."""
    out = []
    for arg in command:
        if arg.startswith(("tcp://", "tls://")):
            continue
        if arg.startswith(("--listen-address=", "--contact-address=")):
            continue  # pods have their own IPs; a pod name does not resolve
        if arg == "--name={hostname}":
            arg = "--name=$(DASK_WORKER_NAME)"
        if arg.startswith("--dashboard-address="):
            arg = f"--dashboard-address=:{WORKER_HTTP}"
        out.append(arg)
    return out


def config_maps(files: dict[str, Path]) -> list[dict]:
    return [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"{NAME}-{key}", "labels": {"app.kubernetes.io/part-of": NAME}},
             "data": {path.name: path.read_text()}} for key, path in files.items()]


def secrets(values: dict[str, str]) -> list[dict]:
    workers = {"AWS_ACCESS_KEY_ID": values["S3_WORKER_KEY_ID"],
               "AWS_SECRET_ACCESS_KEY": values["S3_WORKER_SECRET"]}
    store = {k: values[k] for k in SECRET_KEYS}
    return [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": NAME}},
             "stringData": data}
            for name, data in ((f"{NAME}-s3-worker", workers), (f"{NAME}-store", store))]


def store(svc: dict) -> list[dict]:
    labels = {"app.kubernetes.io/name": "store", "app.kubernetes.io/part-of": NAME}
    mounts = [{"name": "garage-config", "mountPath": "/etc/garage.toml", "subPath": "garage.toml",
               "readOnly": True},
              {"name": "store-data", "mountPath": "/var/lib/garage"},
              {"name": "tmp", "mountPath": "/tmp"}]
    container = {
        "name": "store", "image": svc["image"],
        "env": _env(svc["environment"], f"{NAME}-store"),
        "ports": [{"name": "s3", "containerPort": 9000}],
        "readinessProbe": _exec_probe(svc["healthcheck"]),
        "securityContext": _security(1001, bool(svc.get("read_only"))),
        "volumeMounts": mounts,
    }
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "store", "labels": labels},
         "spec": {"selector": labels, "ports": [{"name": "s3", "port": 9000,
                                                 "targetPort": "s3"}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": "store", "labels": labels},
         "spec": {
             "serviceName": "store", "replicas": 1,
             "selector": {"matchLabels": labels},
             "template": {"metadata": {"labels": labels}, "spec": {
                 "securityContext": {"fsGroup": 1001},
                 "containers": [container],
                 "volumes": [{"name": "garage-config",
                              "configMap": {"name": f"{NAME}-garage-toml"}},
                             {"name": "tmp", "emptyDir": {"medium": "Memory",
                                                         "sizeLimit": "16Mi"}}]}},
             "volumeClaimTemplates": [{
                 "metadata": {"name": "store-data"},
                 "spec": {"accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": "10Gi"}}}}],
         }},
    ]


def dask_cluster(services: dict, values: dict[str, str], image: str, workers: int) -> dict:
    from dask_kubernetes.operator import make_cluster_spec

    worker = services["worker-1"]
    memory = _quantity(worker["mem_limit"])
    if memory_bytes(values["WORKER_MEMORY"]) != int(worker["mem_limit"]):
        raise ManifestError("WORKER_MEMORY and the compose worker's mem_limit disagree")
    threads = values["WORKER_THREADS"]
    spec = make_cluster_spec(NAME, image=image, n_workers=workers,
                             resources={"limits": {"memory": memory, "cpu": threads},
                                        "requests": {"memory": memory, "cpu": threads}},
                             worker_command=["dask", "worker"])
    config = {"name": "dask-config", "configMap": {"name": f"{NAME}-dask-yaml"}}
    mount = {"name": "dask-config", "mountPath": "/etc/dask", "readOnly": True}

    sched_pod = spec["spec"]["scheduler"]["spec"]
    sched = sched_pod["containers"][0]
    sched["args"] = ["dask", "scheduler", "--host", "0.0.0.0", "--port", "8786",
                     "--dashboard-address", ":8787"]
    sched["env"] = []  # the scheduler holds no S3 key, as in docker-compose.yml
    sched["resources"] = {"limits": {"memory": "1Gi", "cpu": "1"},
                          "requests": {"memory": "512Mi", "cpu": "250m"}}
    sched["securityContext"] = _security(1000, False)
    sched["volumeMounts"] = [dict(mount)]
    sched_pod["volumes"] = [dict(config)]

    work_pod = spec["spec"]["worker"]["spec"]
    work = work_pod["containers"][0]
    work["args"] = worker_args(worker["command"])
    work["env"] = _env(worker["environment"], f"{NAME}-s3-worker")
    work["ports"] = [{"name": "http-dashboard", "containerPort": WORKER_HTTP, "protocol": "TCP"}]
    work["readinessProbe"] = {"httpGet": {"path": "/health", "port": "http-dashboard"},
                              "periodSeconds": 5}
    work["securityContext"] = _security(1000, False)
    # The operator makes no per-worker volume claims: spill goes to an emptyDir.
    work["volumeMounts"] = [mount, {"name": "data", "mountPath": "/data"}]
    work_pod["volumes"] = [config, {"name": "data", "emptyDir": {}}]
    # make_cluster_spec shares one resources dict between the two pods.
    sched["resources"], work["resources"] = dict(sched["resources"]), dict(work["resources"])
    work_pod["terminationGracePeriodSeconds"] = 30
    return spec


def manifests(values: dict[str, str], image: str, workers: int = 3) -> dict[str, list[dict]]:
    from ..compose.project import Compose

    services = Compose(project=NAME, files=tuple(compose_files(values)),
                       env=values).config()["services"]
    if values.get("STORE_BACKEND", "garage") != "garage":
        raise ManifestError("the manifests carry the Garage store; STORE_BACKEND=minio is "
                            "not translated (use MinIO's own operator or chart)")
    return {
        "00-config.yaml": config_maps({"dask-yaml": ROOT / "compose" / "dask.yaml",
                                       "garage-toml": ROOT / "compose" / "garage.toml"}),
        "01-secrets.yaml": secrets(values),
        "10-store.yaml": store(services["store"]),
        "20-daskcluster.yaml": [dask_cluster(services, values, image, workers)],
    }


def crd_schema(kind: str = "daskcluster") -> dict:
    """The openAPIV3Schema of the operator's CRD, from the installed package."""
    import importlib.util

    import yaml

    # Found, not imported: importing dask_kubernetes pulls in kr8s, httpx and
    # trio, which a process that runs Dask clients (the tests) need not carry.
    package = Path(importlib.util.find_spec("dask_kubernetes").submodule_search_locations[0])
    path = (package / "operator" / "deployment" / "helm" / "dask-kubernetes-operator" / "crds"
            / f"{kind}.yaml")
    crd = yaml.safe_load(path.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def validate_docs(docs: list[dict], k8s_version: str = K8S_VERSION) -> list[str]:
    """Problems found, one line each (empty when every document is valid)."""
    import jsonschema
    import kubernetes_validate

    problems = []
    for doc in docs:
        what = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            if doc.get("kind") == "DaskCluster":
                jsonschema.validate(doc, crd_schema())
                for role in ("scheduler", "worker"):
                    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": role},
                           "spec": doc["spec"][role]["spec"]}
                    kubernetes_validate.validate(pod, k8s_version, strict=True)
            else:
                kubernetes_validate.validate(doc, k8s_version, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as e:
            problems.append(f"{what}: {getattr(e, 'message', e)}")
    return problems


def write(files: dict[str, list[dict]], out: Path) -> list[Path]:
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    written, _NoAliases = [], _no_aliases_dumper()
    for name, docs in files.items():
        path = out / name
        path.touch(mode=0o600)  # the secrets file holds keys, as .env does
        path.write_text("# Generated by `make k8s-manifests` from docker-compose.yml "
                        "(dasklab/backends/k8s/manifests.py)\n"
                        + yaml.dump_all(docs, Dumper=_NoAliases, sort_keys=False))
        written.append(path)
    return written


def _no_aliases_dumper():
    import yaml

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data) -> bool:  # plain YAML, no &id001 anchors
            return True
    return NoAliases


def main(argv: list[str] | None = None) -> int:
    from ..swarm.stack import STACK_IMAGE

    parser = argparse.ArgumentParser(prog="python -m dasklab.backends.k8s.manifests",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=STACK_IMAGE,
                        help="the image your nodes can pull (push dasklab/dask:stack there)")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--k8s-version", default=K8S_VERSION)
    args = parser.parse_args(argv)
    try:
        files = manifests(validate(load()), args.image, args.workers)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    problems = validate_docs([d for docs in files.values() for d in docs], args.k8s_version)
    if problems:
        print("error: the manifests do not validate:\n  " + "\n  ".join(problems),
              file=sys.stderr)
        return 1
    for path in write(files, args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    print(f"[k8s] validated: Kubernetes {args.k8s_version} schemas (strict) and the DaskCluster "
          "CRD of dask-kubernetes; rendered, not applied. Apply: kubectl apply -f "
          f"{args.out.name}/ (README, \"Outgrowing one machine\")", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
