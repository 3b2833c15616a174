"""What the soak kills on each lane, and what it counts in the steps' logs.

The cloud-run lane: the step functions and Triton (emulator-stack services, SIGKILLed and started
again). The workers lane: one `trackscan worker` per chain step on its pulled subscription, the
model in process and tracks tagged whole (as Terraform's workers lane runs them), and deliver's
function, which stays on Cloud Run in every lane. A worker that dies of its own accord (a lost
Pub/Sub stream) is started again, as the kubelet restarts a crashed container.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path

from tests.faults.emulator_stack import Cloud, FaultStack
from tests.faults.pull_workers import PulledStep, PullWorker, Tail
from trackscan.dev import layout
from trackscan.pipeline.steps import DELIVER, STEP_NAMES

CHAIN = tuple(name for name in STEP_NAMES if name != DELIVER)
# As `trackscan dev up --lane workers` runs them, on the model the references use (fp32).
WORKER_LANE_ENV = {**layout.WORKER_LANE_ENV, "TRACKSCAN_MODEL_VARIANT": "onnxruntime-fp32"}


class FunctionVictims:
    """The cloud-run lane: every step's function and Triton."""

    names: tuple[str, ...] = (*STEP_NAMES, "triton")

    def __init__(self, stack: FaultStack) -> None:
        self.stack = stack
        self.tails = [Tail(stack.log_path(name)) for name in STEP_NAMES]

    def kill(self, name: str) -> None:
        self.stack.kill_service(name)

    def start(self, name: str) -> None:
        self.stack.start_service(name)

    def heal(self) -> None:
        """Nothing to do: a function's process is only ever stopped by the soak."""

    def after_pubsub_restart(self, cloud: Cloud) -> None:
        """Nothing to do: the re-provisioned subscriptions push to the functions."""

    def close(self) -> None:
        for tail in self.tails:
            tail.close()


class WorkerVictims:
    """The workers lane: a pull worker per chain step, and deliver's function."""

    names: tuple[str, ...] = (*CHAIN, DELIVER)

    def __init__(self, stack: FaultStack, cloud: Cloud, log_dir: Path) -> None:
        self.stack, self.started = stack, Counter[str]()
        self._exits = contextlib.ExitStack()
        self.steps = {name: self._exits.enter_context(PulledStep(stack, cloud, name, log_dir)) for name in CHAIN}
        self.workers: dict[str, PullWorker] = {}
        self.tails = [Tail(stack.log_path(DELIVER))]
        for name in CHAIN:
            self.start(name)

    def kill(self, name: str) -> None:
        if name == DELIVER:
            self.stack.kill_service(name)
        else:
            self.workers[name].kill()

    def start(self, name: str) -> None:
        if name == DELIVER:
            self.stack.start_service(name)
            return
        self.started[name] += 1
        worker = self.steps[name].worker(f"{name}{self.started[name]}", env=WORKER_LANE_ENV)
        self.workers[name] = worker
        self.tails.append(worker.tail)

    def heal(self) -> None:
        """Starts a worker again for a step whose worker exited (the kubelet's restart)."""
        for name, worker in self.workers.items():
            if not worker.alive():
                self.start(name)

    def after_pubsub_restart(self, cloud: Cloud) -> None:
        """The re-provisioned subscriptions push: the lane's steps are pulled again."""
        for name in CHAIN:
            cloud.subscriber.modify_push_config(subscription=cloud.subscription_path(name), push_config={})

    def close(self) -> None:
        self._exits.close()  # stops the workers, hands the steps back to their functions
        self.tails[0].close()


# A log line is seen up to 0.1 s after it is written (Tail's poll): runs of one message closer
# than this are taken as one after the other (a retry at once), not as overlapping.
SEEN_WITHIN_S = 0.2


def run_counts(tails: list[Tail], track_ids: set[str]) -> dict[str, int]:
    """Step runs; the messages they ran (track, step, segment: a redelivery or a replay runs one
    again, and the emulator's pushes carry no delivery attempt to tell which); and duplicated
    work, runs of one message that overlapped in time, each seen ending after starting
    duration_s before."""
    runs: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    counts = Counter[str]()
    for tail in tails:
        for seen, line in tail.matching("step finished", track_ids) + tail.matching("step failed", track_ids):
            counts["runs"] += 1
            key = (line["track_id"], line["step"], line.get("segment_index"))
            runs[key].append((seen - line["duration_s"], seen))
    for intervals in runs.values():
        ordered = sorted(intervals)
        counts["duplicated work"] += sum(later[0] < earlier[1] - SEEN_WITHIN_S for earlier, later in pairwise(ordered))
    return {"runs": counts["runs"], "messages": len(runs), "duplicated work": counts["duplicated work"]}
