"""The pull worker: ``trackscan worker --step NAME`` runs one step from a Pub/Sub pull subscription.

It lets the CPU steps also run on GKE spot nodes, with the same handlers as the Cloud Run functions.

Sized for preemption: the worker holds only as many messages as it runs (a killed pod strands
no backlog) and extends leases by at most 30 s at a time (a SIGKILLed pod's message comes back
within about that long). SIGTERM stops pulling, lets the messages in hand finish, and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trackscan.domain.errors import PermanentError
from trackscan.pipeline.deliveries import Delivery, keep_rejected, message_of
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.step_policy import run_step

if TYPE_CHECKING:
    from google.cloud.pubsub_v1.subscriber.message import Message as PulledMessage

log = logging.getLogger(__name__)
MAX_LEASE_EXTENSION_S = 30
MAX_LEASE_S = 600  # a step never takes this long: past it the message is somebody else's
STOP_POLL_S = 0.2


@dataclass(frozen=True)
class WorkerSettings:
    """Which subscription one worker pulls, and how many messages it runs (and holds) at once."""

    subscription_path: str
    concurrency: int = 1


def handle_pulled(message: PulledMessage, deps: Deps) -> None:
    """Runs the step of a pulled message; acks it when handled, nacks it to have it retried."""
    delivery = Delivery(message.data, dict(message.attributes), message.message_id, message.delivery_attempt or 1)
    try:
        step_message = message_of(delivery, deps.config)
        if step_message is not None:
            run_step(step_message, deps, attempt=delivery.delivery_attempt)
    except PermanentError as exc:  # malformed, or an event we do not accept: acknowledged, recorded
        keep_rejected(deps.rejections, exc.message, delivery.data, delivery.attributes, delivery.message_id)
    except Exception:  # anything else is retried by redelivery (logged, so not a blind except)
        log.exception("step failed; the message will be redelivered", extra={"message_id": message.message_id})
        message.nack()
        return
    message.ack()


def run(settings: WorkerSettings, deps: Deps, stop: threading.Event | None = None) -> None:
    """Pulls and handles messages until ``stop`` is set or SIGTERM/SIGINT arrives."""
    import google.cloud.pubsub_v1 as pubsub_v1
    from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

    stop = stop or _stop_on_signals()
    subscriber = pubsub_v1.SubscriberClient()
    flow_control = pubsub_v1.types.FlowControl(
        max_messages=settings.concurrency,
        max_lease_duration=MAX_LEASE_S,
        max_duration_per_lease_extension=MAX_LEASE_EXTENSION_S,
    )
    scheduler = ThreadScheduler(ThreadPoolExecutor(settings.concurrency, thread_name_prefix="step"))
    future = subscriber.subscribe(
        settings.subscription_path,
        lambda message: handle_pulled(message, deps),
        flow_control=flow_control,
        scheduler=scheduler,
        await_callbacks_on_shutdown=True,  # drain: steps in hand finish before we exit
    )
    log.info("worker started", extra={"subscription": settings.subscription_path})
    # Wait in short slices. The kernel may deliver SIGTERM to any of the client's threads; Python
    # then runs the handler only once the main thread wakes, and an untimed wait may sleep on
    # while new messages are taken (the likely cause of a slow drain seen once in CI).
    while not stop.wait(timeout=STOP_POLL_S):
        pass
    log.info("worker draining", extra={"subscription": settings.subscription_path})
    future.cancel()
    future.result()
    subscriber.close()
    log.info("worker stopped", extra={"subscription": settings.subscription_path})


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
