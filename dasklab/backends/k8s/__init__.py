"""Kubernetes: manifests for the dask-kubernetes operator (see backends/__init__.py)."""
