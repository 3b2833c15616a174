"""The runtime shared by the Cloud Run functions and the pull worker.

It builds the cloud ports once per instance, turns a delivered message into a step, and applies
the error policy.

Returning acknowledges the message; raising makes Pub/Sub redeliver it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from trackscan.domain.config import Config
from trackscan.domain.errors import BadMessageError, PermanentError
from trackscan.domain.messages import Message
from trackscan.domain.ports import NotificationConfigs, UploadSessions
from trackscan.pipeline.deliveries import Delivery, delivery_from_push, keep_rejected, message_of
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.step_policy import handle_dead_letter, run_step
from trackscan.pipeline.steps import INGEST, STEP_NAMES, step_for, step_named, topic_name
from trackscan.runtimes import logs

log = logging.getLogger(__name__)


@functools.cache
def cloud_deps() -> Deps:
    """The instance's ports, built on first use and reused by every request."""
    from trackscan.runtimes.bootstrap import cloud_deps as build

    config = Config.from_env()
    logs.configure(config.log_level)
    return build(config)


def on_start(function_target: str | None) -> None:
    """Instance start-up: warm the feature code up where the service's step decodes audio."""
    if function_target in STEP_NAMES and step_named(function_target).warm_up:
        from trackscan.audio.warmup import warm_up

        warm_up()


def _request_trace() -> str | None:
    """The trace of the HTTP request being served (Cloud Run adds one to every request)."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    headers = {name: request.headers.get(name, "") for name in ("traceparent", "X-Cloud-Trace-Context")}
    return logs.trace_of(headers, cloud_deps().config.project_id)


def handle_push(event_data: Any, step_name: str) -> None:
    """Runs one Pub/Sub push on the step ``step_name``.

    Malformed or misrouted messages are logged and acknowledged: redelivering them would never help.
    """
    delivery = _parse(event_data)
    message = _message(delivery) if delivery else None
    if delivery is None or message is None:
        return
    if step_for(message).name != step_name:
        keep_rejected(
            cloud_deps().rejections,
            f"a {message.kind} message reached the {step_name} step",
            delivery.data,
            delivery.attributes,
            delivery.message_id,
        )
        return
    with logs.traced(_request_trace()):  # every line of the step carries the request's trace
        run_step(message, cloud_deps(), attempt=delivery.delivery_attempt)


def handle_dead_letter_push(event_data: Any) -> None:
    """Marks the track of a dead-lettered message FAILED (RETRIES_EXHAUSTED)."""
    delivery = _parse(event_data)
    message = _message(delivery) if delivery else None
    if message is None or delivery is None:
        return
    attempts = int(delivery.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount", 0) or 0)
    source = delivery.attributes.get("CloudPubSubDeadLetterSourceSubscription", "its subscription")
    reason = f"every delivery from {source} failed; the step's logs hold each error"
    with logs.traced(_request_trace()):
        handle_dead_letter(message, reason, cloud_deps(), attempts)


def reconcile_pass() -> dict[str, int]:
    """One scheduled reconcile pass (see trackscan.pipeline.reconcile); what it did, for the caller's log."""
    from trackscan.pipeline.inventory import sweep
    from trackscan.pipeline.reconcile import reconcile

    deps = cloud_deps()
    done = reconcile(deps, deps.config.reconcile_after_s)
    log.info("reconcile pass", extra=vars(done))
    swept = sweep(deps, f"gs://{deps.config.ingest_bucket_name}/")
    return {"stalled": done.stalled, **vars(done), "sweep": vars(swept), "notifications": notification_check(deps)}


def notification_check(deps: Deps) -> str:
    """Returns "ok", "missing" (logged at ERROR: uploads then reach ingest only through the sweep) or "unknown"."""
    blobs, bucket_name = deps.blobs, deps.config.ingest_bucket_name
    topics = blobs.notification_topics(bucket_name) if isinstance(blobs, NotificationConfigs) else None
    if topics is None:
        return "unknown"
    wanted = topic_name(deps.config.topic_prefix, INGEST)
    if wanted in topics:
        return "ok"
    log.error(
        "the ingest bucket has no notification config to the ingest topic",
        extra={"bucket": deps.config.ingest_bucket_name, "topic": wanted, "found": topics},
    )
    return "missing"


@functools.cache
def api_app() -> Any:
    """The partner API: API keys always, Google ID tokens when an audience is configured."""
    from trackscan.api import create_app
    from trackscan.api.google_identity import google_id_token_verifier

    deps = cloud_deps()
    audience = deps.config.api_audience
    sessions = deps.blobs.start_resumable_upload if isinstance(deps.blobs, UploadSessions) else None
    return create_app(deps, verifier=google_id_token_verifier(audience) if audience else None, upload_sessions=sessions)


def serve_api(request: Any) -> Any:
    """Hands a functions-framework HTTP request to the Flask app of the API."""
    from flask.ctx import RequestContext

    from trackscan.api.request_guard import seal

    app = api_app()
    # The same request object, so the same body stream: functions-framework reads the body again
    # after the response, and a second stream over a drained wsgi.input fails under servers that
    # bound it by Content-Length (werkzeug's, and its test client) with a 500 "client disconnected".
    # Once answered, the body reads as empty: the hook reads nothing the route did not use
    # (trackscan.api.request_guard, where the server runs the API behind the guard).
    with RequestContext(app, request.environ, request=request), logs.traced(_request_trace()):
        try:
            return app.full_dispatch_request()
        finally:
            seal(request.environ)


def _parse(event_data: Any) -> Delivery | None:
    try:
        return delivery_from_push(event_data)
    except BadMessageError as exc:
        raw = repr(event_data)[:2000].encode()
        keep_rejected(cloud_deps().rejections, exc.message, raw, {}, "")
        return None


def _message(delivery: Delivery) -> Message | None:
    deps = cloud_deps()
    try:
        return message_of(delivery, deps.config)
    except PermanentError as exc:  # malformed, or an event we do not accept
        keep_rejected(deps.rejections, exc.message, delivery.data, delivery.attributes, delivery.message_id)
        return None
