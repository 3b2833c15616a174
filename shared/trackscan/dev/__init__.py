"""The dev stack: the cloud adapters against real local servers (`trackscan dev up` / `dev down`).

Pub/Sub and Firestore emulators (gcloud SDK), fake-gcs-server (publishing real OBJECT_FINALIZE
notifications to the Pub/Sub emulator), a real Triton server (PyTriton), and every function of
functions/main.py under functions-framework behind push subscriptions. Not imported by the
services: only the CLI and the integration tests use it.
"""

from trackscan.dev.layout import DevPorts
from trackscan.dev.stack import DevStack, DevStackError, DevStackUnavailable, stop_recorded

__all__ = ["DevPorts", "DevStack", "DevStackError", "DevStackUnavailable", "stop_recorded"]
