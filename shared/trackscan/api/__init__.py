"""The partner HTTP API (Flask): submit tracks, read them, list and retry failed ones.

Only this package imports flask and google-auth; the core modules stay free of them.
"""

from trackscan.api.app import create_app

__all__ = ["create_app"]
