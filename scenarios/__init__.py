"""dasklab scenarios: workloads (with optional faults) run against the Compose
cluster, each returning one `Result`. `python -m scenarios` is the CLI;
`make scenario-<name>` and the tests call the same registry."""
