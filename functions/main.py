"""Cloud Run entrypoints, one image for every service: each service picks one with FUNCTION_TARGET.

Transport only. One CloudEvent function per pipeline step, named after the step and derived from
the step registry (trackscan.pipeline.steps), plus the dead-letter, reconcile and API functions.
Returning acknowledges the Pub/Sub message; an exception makes Pub/Sub redeliver it.
"""

import os
from collections.abc import Callable

import functions_framework
from cloudevents.http import CloudEvent

from trackscan.pipeline.steps import STEPS
from trackscan.runtimes import cloud_runtime

cloud_runtime.on_start(os.environ.get("FUNCTION_TARGET"))


def _step_function(step_name: str, description: str) -> Callable[[CloudEvent], None]:
    def run(event: CloudEvent) -> None:
        cloud_runtime.handle_push(event.data, step_name)

    # functions-framework finds a target by the function's name in this module.
    run.__name__ = run.__qualname__ = step_name
    run.__doc__ = description
    return functions_framework.cloud_event(run)


for _step in STEPS:
    globals()[_step.name] = _step_function(_step.name, _step.description)


@functions_framework.cloud_event
def dead_letter(event: CloudEvent) -> None:
    """Messages that exhausted their retries: record the track FAILED (a result event: see deliver)."""
    cloud_runtime.handle_dead_letter_push(event.data)


@functions_framework.http
def reconcile(request):
    """Cloud Scheduler, every minute: replay tracks that stopped moving (a lost message)."""
    return cloud_runtime.reconcile_pass()


@functions_framework.http
def api(request):
    """The partner HTTP API (see shared/trackscan/api/openapi.yaml)."""
    return cloud_runtime.serve_api(request)
