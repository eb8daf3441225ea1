"""The Compose backend: the lab as a compose project (see backends/__init__.py)."""
