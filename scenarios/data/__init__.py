"""Course: distributed data (source data, scatter, worker-local data, output)."""
