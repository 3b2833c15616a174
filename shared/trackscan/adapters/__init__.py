"""Adapters: local and cloud implementations of the ports. Only bootstrap imports them."""
