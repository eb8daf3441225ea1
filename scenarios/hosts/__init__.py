"""Outgrowing one machine: the lab on more than one engine host (make hosts-up)."""
