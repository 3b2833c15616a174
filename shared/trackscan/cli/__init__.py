"""The trackscan command line."""
