"""Course: resource usage and resilience (spill, stealing, losing worker
processes and their storage)."""
