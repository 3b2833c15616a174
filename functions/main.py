"""Cloud Run entrypoints, one image for every service: each service picks one with FUNCTION_TARGET.

Transport only: each function hands the delivered event to trackscan.service. Returning
acknowledges the Pub/Sub message; an exception makes Pub/Sub redeliver it.
"""

import os

import functions_framework
from cloudevents.http import CloudEvent

from trackscan import service

service.on_start(os.environ.get("FUNCTION_TARGET"))


@functions_framework.cloud_event
def on_upload(event: CloudEvent) -> None:
    """GCS OBJECT_FINALIZE notifications and API submissions: ingest."""
    service.handle_push(event.data)


@functions_framework.cloud_event
def on_segment(event: CloudEvent) -> None:
    """segment-planned messages: decode and compute features."""
    service.handle_push(event.data)


@functions_framework.cloud_event
def on_features_ready(event: CloudEvent) -> None:
    """features-ready messages: run the model."""
    service.handle_push(event.data)


@functions_framework.cloud_event
def on_track_inferred(event: CloudEvent) -> None:
    """track-inferred messages: aggregate, commit, clean up."""
    service.handle_push(event.data)


@functions_framework.cloud_event
def on_dead_letter(event: CloudEvent) -> None:
    """Messages that exhausted their retries: record the track FAILED."""
    service.handle_dead_letter_push(event.data)


@functions_framework.http
def reconcile(request):
    """Cloud Scheduler, every minute: replay tracks that stopped moving (a lost message)."""
    return service.reconcile_pass()


@functions_framework.http
def api(request):
    """The partner HTTP API (see shared/trackscan/api/openapi.yaml)."""
    return service.serve_api(request)
