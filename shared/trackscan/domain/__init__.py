"""The domain: what a track is, its messages, errors and settings, and the ports the core needs."""
