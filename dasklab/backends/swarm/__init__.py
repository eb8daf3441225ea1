"""The Swarm backend: the same cluster as a Swarm stack (see backends/__init__.py)."""
