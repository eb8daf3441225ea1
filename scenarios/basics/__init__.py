"""Course: the cast of characters and basic operation (who runs where, one
environment everywhere)."""
