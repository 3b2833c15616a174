"""The step registry: every pipeline step, named once.

Each row says what the step consumes, what it publishes and what it needs to run. Everything
else is derived from this table: the Cloud Run entrypoints (functions/main.py), the
Pub/Sub topic and subscription names, the embedded runner's routing, ``trackscan worker --step``,
the dev stack and, through ``terraform/steps.json`` (``python -m trackscan.pipeline.steps``),
Terraform's services, subscriptions and grants. Adding a step means a row here, its handler
module and its tests.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trackscan.domain.messages import (
    FeaturesReady,
    Message,
    SegmentPlanned,
    TrackFinished,
    TrackInferred,
    UploadReceived,
)
from trackscan.domain.track_ids import rerun_track_id, track_id_for

if TYPE_CHECKING:
    from trackscan.pipeline.deps import Deps

Handler = Callable[[Any, "Deps"], None]
INGEST, FEATURES, INFER, FINALIZE, DELIVER = "ingest", "features", "infer", "finalize", "deliver"
# The ways the cloud runs these steps (Terraform's variable lane): each step a Cloud Run service
# behind a push subscription, or every step's subscription pulled by `trackscan worker`, a track
# that fits one unit tagged whole with the model in process (trackscan.pipeline.whole_track).
CLOUD_RUN_LANE, WORKERS_LANE = "cloud-run", "workers"
LANES = (CLOUD_RUN_LANE, WORKERS_LANE)
VIEWER = "roles/storage.objectViewer"
USER = "roles/storage.objectUser"  # read, write and delete objects, never bucket settings


@dataclass(frozen=True)
class Deployment:
    """How the step's Cloud Run service and push subscription are sized (see terraform/)."""

    cpu: str
    memory: str
    concurrency: int  # requests an instance serves at once: 1 for the CPU-bound steps
    bucket_roles: Mapping[str, str]  # bucket key ("ingest" or "work") -> role
    timeout_s: int = 30
    ack_deadline_s: int = 60
    max_delivery_attempts: int = 15  # preemption NACKs count too: keep headroom
    triton: bool = False  # needs a route to Triton (VPC egress)
    # Calls hosts on the internet (partners' webhooks): runs on Cloud Run in every lane, as the
    # worker nodes have no route out and Cloud Run reaches the internet directly.
    internet: bool = False


@dataclass(frozen=True)
class Step:
    """One pipeline step: consumes one message kind on its own topic, publishes others."""

    name: str
    description: str
    consumes: type
    publishes: tuple[type, ...]
    handler_module: str  # its ``handle(message, deps)``, imported on first use (librosa is slow to import)
    deployment: Deployment
    warm_up: bool = False  # decodes audio: compile the feature code's numba loop at instance start
    topic_name: str = ""  # the topic's own name where it is not the step's (the results topic)

    @property
    def handler(self) -> Handler:
        """The step's handler function."""
        handle: Handler = importlib.import_module(self.handler_module).handle
        return handle

    def topic(self, prefix: str) -> str:
        """The Pub/Sub topic this step consumes (``<prefix>-<step>``)."""
        return f"{prefix}-{self.topic_name or self.name}"


# In the order a track flows through them. Every step may end a track (a permanent error), and
# an ended track's result event goes to the deliver step's topic, results.
STEPS: tuple[Step, ...] = (
    Step(
        INGEST,
        "Validates an uploaded object, creates its track record, plans segments.",
        UploadReceived,
        (SegmentPlanned, TrackFinished),
        "trackscan.pipeline.ingest",
        Deployment("1", "1Gi", concurrency=4, bucket_roles={"ingest": VIEWER}),
        warm_up=True,
    ),
    Step(
        FEATURES,
        "Decodes one segment and computes log-mel patches and DSP partials.",
        SegmentPlanned,
        (FeaturesReady, TrackFinished),
        "trackscan.pipeline.features",
        Deployment("1", "2Gi", concurrency=1, bucket_roles={"ingest": VIEWER, "work": USER}),
        warm_up=True,
    ),
    Step(
        INFER,
        "Runs the model on a segment's patches through Triton and records the segment.",
        FeaturesReady,
        (TrackInferred, TrackFinished),
        "trackscan.pipeline.infer",
        Deployment("1", "2Gi", concurrency=1, bucket_roles={"work": USER}, triton=True),
    ),
    Step(
        FINALIZE,
        "Aggregates segment predictions into the track result, commits it, deletes work blobs.",
        TrackInferred,
        (TrackFinished,),
        "trackscan.pipeline.finalize",
        Deployment("1", "1Gi", concurrency=4, bucket_roles={"work": USER}),
    ),
    Step(
        DELIVER,
        "Sends a track's result event to its partner's webhook, signed (Standard Webhooks).",
        TrackFinished,
        (),
        "trackscan.pipeline.deliver",
        # Waits on partners' servers, not the CPU. Pub/Sub retries with backoff; the dead-letter
        # handler sends an event back until it is webhook_retry_s old (trackscan.pipeline.deliver).
        Deployment("1", "512Mi", concurrency=40, bucket_roles={}, max_delivery_attempts=100, internet=True),
        topic_name="results",
    ),
)
STEP_NAMES: tuple[str, ...] = tuple(step.name for step in STEPS)
_BY_NAME = {step.name: step for step in STEPS}
_BY_MESSAGE = {step.consumes: step for step in STEPS}


def step_named(name: str) -> Step:
    """The step called ``name``.

    Raises:
        KeyError: no step has that name.
    """
    return _BY_NAME[name]


def step_for(message: Message) -> Step:
    """The step that consumes this message."""
    return _BY_MESSAGE[type(message)]


def topic_name(prefix: str, step_name: str) -> str:
    """The topic that the step ``step_name`` consumes."""
    return step_named(step_name).topic(prefix)


def track_id_of(message: Message) -> str:
    """The track a message is about (an upload's track id is derived from its object)."""
    if isinstance(message, UploadReceived):
        track_id = track_id_for(message.source_uri, message.generation)
        return rerun_track_id(track_id, message.backfill_model) if message.backfill_model else track_id
    return message.track_id


def export() -> dict[str, Any]:
    """The registry as Terraform reads it (terraform/steps.json)."""
    return {"steps": {step.name: _exported(step) for step in STEPS}}


def _exported(step: Step) -> dict[str, Any]:
    deployment = step.deployment
    return {
        "ack_deadline_s": deployment.ack_deadline_s,
        "bucket_roles": dict(deployment.bucket_roles),
        "concurrency": deployment.concurrency,
        "cpu": deployment.cpu,
        "description": step.description,
        "entrypoint": step.name,
        "internet": deployment.internet,
        "max_delivery_attempts": deployment.max_delivery_attempts,
        "memory": deployment.memory,
        "publishes_to": [_BY_MESSAGE[kind].name for kind in step.publishes],
        "timeout_s": deployment.timeout_s,
        "topic": step.topic_name or step.name,
        "triton": deployment.triton,
    }


def export_json() -> str:
    """The text of terraform/steps.json."""
    return json.dumps(export(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m trackscan.pipeline.steps [PATH]: write the export
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if target is None:
        sys.stdout.write(export_json())
    else:
        target.write_text(export_json())
