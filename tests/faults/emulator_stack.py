"""The emulator fault tests' stack: trackscan.dev.DevStack with services that can be stopped and
restarted one by one, and a view of its buckets, topics, subscriptions and track records."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trackscan.dev import DevStack, processes, services
from trackscan.dev.layout import NAME_PREFIX, subscriptions
from trackscan.dev.stack import REPO_ROOT
from trackscan.domain.config import Config
from trackscan.domain.track_ids import track_id_for
from trackscan.pipeline.steps import topic_name

SEGMENT_S = 10.0  # short segments: a 25 s track has 3, so reuse and partial progress show
# Every function gets these; the decode failpoint fires only on sources named *crashme*.
# Triton gets them too: with a token of ours, a test can unload the model (a drain).
TRITON_TOKEN = "fault-suite"
FUNCTION_ENV = {
    "TRACKSCAN_SEGMENT_S": f"{SEGMENT_S:g}",
    "TRACKSCAN_FAILPOINTS": "decode@crashme=crash",
    "TRITON_LOCAL_ACCESS_TOKEN": TRITON_TOKEN,
}
FINAL = ("DONE", "FAILED")


class FaultStack(DevStack):
    """A DevStack with extra environment for its functions, whose services can be stopped and
    started again (a Triton outage, an emulator restart, a function redeployed with a failpoint)."""

    def __init__(self, *args: Any, extra_env: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_env = dict(extra_env)

    def function_env(self) -> dict[str, str]:
        return {**super().function_env(), **self.extra_env}

    def log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def is_running(self, name: str) -> bool:
        return processes.is_ours(self._child(name))

    def stop_service(self, name: str) -> None:
        """Stops one service's whole process group (SIGTERM, then SIGKILL after the grace)."""
        processes.stop_children([self._child(name)], self._popens)

    def start_service(self, name: str, env: Mapping[str, str] | None = None, timeout_s: float = 120) -> float:
        """Starts a stopped service again on its port, with env on top; seconds until it answers."""
        service = next(s for s in self._services if s.name == name)
        started = time.monotonic()
        environment = {**os.environ, **self.function_env(), **service.env, **(env or {})}
        child, popen = processes.start_child(name, service.argv, environment, self.state_dir / "logs", cwd=REPO_ROOT)
        self._children[self._children.index(self._child(name))] = child
        self._popens[name] = popen
        self.state.write(self._children, env=self.env, ports=vars(self.ports))
        self._wait(service, timeout_s)
        return time.monotonic() - started

    def kill_service(self, name: str) -> None:
        """SIGKILL to one service's whole process group, as a preempted node or the OOM killer does.

        A killed Triton leaves its shared-memory regions behind (PyTriton names them after the
        process id): they are removed, so a long soak does not fill /dev/shm.
        """
        child = self._child(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        self._popens[name].wait(timeout=30)
        for leftover in Path("/dev/shm").glob(f"pytrtion{child.pid}-*"):
            leftover.unlink(missing_ok=True)

    def thread_dump(self, name: str) -> Path:
        """Writes the Java thread stacks of an emulator (jstack) next to its log, then the machine's
        TCP connections with their processes (ss), to see what a silent subscription's push loop
        waits on and who holds the other end; returns the file."""
        group = os.getpgid(self._child(name).pid)
        pids = subprocess.run(["pgrep", "-g", str(group), "java"], capture_output=True, text=True).stdout.split()
        target = self.state_dir / "logs" / f"{name}-threads-{time.strftime('%H%M%S')}.txt"
        with target.open("w") as out:
            for pid in pids:
                subprocess.run(["jstack", pid], stdout=out, stderr=subprocess.STDOUT, timeout=60, check=False)
            out.flush()
            subprocess.run(["ss", "-tnpo"], stdout=out, stderr=subprocess.STDOUT, timeout=60, check=False)
        return target

    def restart_service(self, name: str, env: Mapping[str, str] | None = None) -> float:
        self.stop_service(name)
        return self.start_service(name, env)

    @contextlib.contextmanager
    def restarted(self, names: Iterable[str], env: Mapping[str, str]) -> Iterator[None]:
        """Runs the services with env on top for the block (a redeploy); then as they were."""
        names = list(names)
        for name in names:
            self.restart_service(name, env)
        try:
            yield
        finally:
            for name in names:
                self.restart_service(name)

    def _child(self, name: str) -> processes.ChildProcess:
        return next(c for c in self._children if c.name == name)


@dataclass(frozen=True)
class Upload:
    name: str  # object name in the ingest bucket
    uri: str
    generation: str
    size_bytes: int

    @property
    def track_id(self) -> str:
        return track_id_for(self.uri, self.generation)


class Cloud:
    """The stack's buckets, topics and track records, through the Google SDKs (env must point
    them at the stack)."""

    def __init__(self, stack: FaultStack) -> None:
        from google.cloud import firestore, pubsub_v1, storage

        self.stack = stack
        self.config: Config = stack.config
        self.storage = storage.Client(project=self.config.project_id)
        self.firestore = firestore.Client(project=self.config.project_id)
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.partner = stack.env["TRACKSCAN_DEV_PARTNER"]

    def upload(self, path: Path, name: str | None = None) -> Upload:
        """Uploads a file into the ingest bucket as the dev partner: fake GCS announces it."""
        blob = self.storage.bucket(self.config.ingest_bucket_name).blob(f"{self.partner}/{name or path.name}")
        blob.upload_from_filename(str(path))
        return Upload(
            blob.name,
            f"gs://{self.config.ingest_bucket_name}/{blob.name}",
            str(blob.generation),
            int(blob.size or path.stat().st_size),
        )

    def publish_finalize(self, upload: Upload) -> str:
        """Publishes the OBJECT_FINALIZE notification of an upload again, as GCS may (a new message id)."""
        attributes = {
            "bucketId": self.config.ingest_bucket_name,
            "objectId": upload.name,
            "objectGeneration": upload.generation,
            "eventType": "OBJECT_FINALIZE",
            "payloadFormat": "JSON_API_V1",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        data = {
            "kind": "storage#object",
            "name": upload.name,
            "bucket": self.config.ingest_bucket_name,
            "generation": upload.generation,
            "size": str(upload.size_bytes),
        }
        topic = self.publisher.topic_path(self.config.project_id, topic_name(self.config.topic_prefix, "ingest"))
        return self.publisher.publish(topic, json.dumps(data).encode(), **attributes).result(timeout=30)

    def records(self, track_ids: Iterable[str]) -> dict[str, dict | None]:
        """The stored record of each track (None where there is none)."""
        ids = list(track_ids)
        found: dict[str, dict | None] = dict.fromkeys(ids)
        collection = self.firestore.collection(self.config.tracks_collection)
        for start in range(0, len(ids), 300):
            refs = [collection.document(i) for i in ids[start : start + 300]]
            for snapshot in self.firestore.get_all(refs):
                if snapshot.exists:
                    found[snapshot.id] = snapshot.to_dict()
        return found

    def wait_final(self, track_ids: Iterable[str], timeout_s: float) -> dict[str, dict | None]:
        """Polls until every track is DONE or FAILED, or timeout_s passes; returns the records."""
        records: dict[str, dict | None] = dict.fromkeys(track_ids)
        deadline = time.monotonic() + timeout_s
        while True:
            # Only the unfinished are read again, and a big batch less often: on 2 cores the
            # polling would otherwise take CPU from the stack it watches.
            waiting = [t for t, r in records.items() if not (r and r["state"] in FINAL)]
            records |= self.records(waiting)
            if all(r and r["state"] in FINAL for r in records.values()) or time.monotonic() > deadline:
                return records
            time.sleep(max(0.5, len(waiting) / 100))

    def work_blobs(self, track_ids: Iterable[str]) -> int:
        """Work blobs left behind by finished tracks (finalize deletes them after the commit)."""
        bucket = self.config.work_bucket_name
        return sum(len(list(self.storage.list_blobs(bucket, prefix=f"{t}/"))) for t in track_ids)

    def subscription_path(self, step: str) -> str:
        return self.subscriber.subscription_path(self.config.project_id, f"{NAME_PREFIX}-{step}")

    @contextlib.contextmanager
    def pulled(self, step: str) -> Iterator[str]:
        """Turns a step's push subscription into a pull one (same dead letter and retry policy)
        for the block, for a pull worker to take over; pushes again afterwards, so whatever is
        left goes to the function. Yields the subscription's name."""
        path = self.subscription_path(step)
        endpoint = next(
            s.push_endpoint for s in subscriptions(self.config, self.stack.ports) if s.name == f"{NAME_PREFIX}-{step}"
        )
        self.subscriber.modify_push_config(subscription=path, push_config={})
        try:
            yield path.rsplit("/", 1)[1]
        finally:
            self.subscriber.modify_push_config(subscription=path, push_config={"push_endpoint": endpoint})

    @contextlib.contextmanager
    def retry_settings(self, step: str, attempts: int, backoff: bool) -> Iterator[None]:
        """Sets a step subscription's max_delivery_attempts, and keeps or drops its retry policy
        (without one the emulator redelivers about once a second), for the block; then restores both."""
        from google.protobuf import field_mask_pb2

        path = self.subscription_path(step)
        saved = self.subscriber.get_subscription(subscription=path)
        mask = field_mask_pb2.FieldMask(paths=["dead_letter_policy", "retry_policy"])

        def update(max_attempts: int, retry_policy: object) -> None:
            subscription = {
                "name": path,
                "dead_letter_policy": {
                    "dead_letter_topic": saved.dead_letter_policy.dead_letter_topic,
                    "max_delivery_attempts": max_attempts,
                },
            }
            if retry_policy is not None:
                subscription["retry_policy"] = retry_policy
            self.subscriber.update_subscription(request={"subscription": subscription, "update_mask": mask})

        update(attempts, saved.retry_policy if backoff else None)
        try:
            yield
        finally:
            update(saved.dead_letter_policy.max_delivery_attempts, saved.retry_policy)

    @contextlib.contextmanager
    def ack_deadline(self, step: str, seconds: int) -> Iterator[None]:
        """Sets a step subscription's ack deadline (10 s at least) for the block, then restores it."""
        from google.protobuf import field_mask_pb2

        path = self.subscription_path(step)
        saved = self.subscriber.get_subscription(subscription=path).ack_deadline_seconds
        mask = field_mask_pb2.FieldMask(paths=["ack_deadline_seconds"])

        def update(value: int) -> None:
            self.subscriber.update_subscription(
                request={"subscription": {"name": path, "ack_deadline_seconds": value}, "update_mask": mask}
            )

        update(seconds)
        try:
            yield
        finally:
            update(saved)


def gone_services(stack: FaultStack) -> list[str]:
    """The stack's services whose process is gone (a crashed function shows here)."""
    return [s.name for s in stack.services if not stack.is_running(s.name)]


def triton_unavailable(config: Config) -> str:
    """Why the local Triton cannot run here, or "" when it can (installs its venv once)."""
    if not Path(config.model_path).is_file():
        return f"no model at {config.model_path} (make model)"
    install = REPO_ROOT / "scripts" / "install_triton_venv.sh"
    done = subprocess.run([str(install)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return f"could not install .venv-triton: {done.stderr.strip()[-300:]}"
    return ""


def tools_unavailable() -> str:
    try:
        services.require_tools()
    except services.DevStackUnavailable as exc:
        return str(exc)
    return ""
