"""Best practices and debugging: one failure diagnosed three ways, the
profiler and an offline performance report (debugging)."""
