"""Tasks and seeing them: submission and scheduling policy (tasks), finding
tasks and data (find_data), the dashboard in a real browser (dashboard)."""
