"""trackscan: tags music at scale with the pretrained musicnn models."""

__version__ = "0.1.0"
