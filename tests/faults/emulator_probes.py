"""Checks of the claims in FAULTS.md "Where the emulators differ from the real services".

Run `.venv/bin/python -m tests.faults.emulator_probes` (about 4 minutes): it starts the
emulators and fake GCS (no Triton, no functions) on free ports, probes each behaviour and
prints one line per finding. Not part of the test suite: it measures the emulators, whose
behaviour changes between versions (re-run it when they are upgraded).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.faults.emulator_stack import FaultStack
from trackscan.dev import DevPorts
from trackscan.dev.layout import free_ports
from trackscan.dev.provision import environ
from trackscan.domain.config import Config
from trackscan.pipeline.steps import topic_name

FAIL_S = 20.0  # how long the probe's push endpoint answers 500 before it answers 204
# A subscriber that takes one message and never acks it (run in a child, then SIGKILLed).
HOLDER = """
import sys, time
from google.cloud import pubsub_v1
flow = pubsub_v1.types.FlowControl(max_messages=1, max_duration_per_lease_extension=30)
pubsub_v1.SubscriberClient().subscribe(sys.argv[1], lambda m: time.sleep(3600), flow_control=flow)
time.sleep(3600)
"""


class Probes:
    def __init__(self, stack: FaultStack) -> None:
        from google.cloud import firestore, pubsub_v1, storage

        self.stack, self.project = stack, stack.config.project_id
        self.publisher, self.subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        self.storage, self.firestore = storage.Client(project=self.project), firestore.Client(project=self.project)
        self.dead_letter = self.topic("probe-dead-letter")

    def topic(self, name: str) -> str:
        path = self.publisher.topic_path(self.project, name)
        self.publisher.create_topic(name=path)
        return path

    def subscription(
        self, name: str, topic: str, endpoint: str = "", backoff: bool = True, oidc: dict | None = None
    ) -> str:
        path = self.subscriber.subscription_path(self.project, name)
        request: dict[str, object] = {
            "name": path,
            "topic": topic,
            "ack_deadline_seconds": 60,
            "dead_letter_policy": {"dead_letter_topic": self.dead_letter, "max_delivery_attempts": 100},
        }
        if endpoint:
            request["push_config"] = {"push_endpoint": endpoint, **({"oidc_token": oidc} if oidc else {})}
        if backoff:
            request["retry_policy"] = {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 10}}
        self.subscriber.create_subscription(request=request)
        return path

    # --- Pub/Sub push ---

    def push(self) -> list[str]:
        """Headers and payload of a push with an OIDC token configured, and the retry cadence."""
        hits: dict[tuple[str, str], list[float]] = defaultdict(list)
        seen: list[tuple[str | None, object]] = []
        started = time.time()

        class Endpoint(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hits[(self.path, body["message"]["data"])].append(time.time() - started)
                seen.append((self.headers.get("Authorization"), body.get("deliveryAttempt")))
                self.send_response(204 if time.time() - started > FAIL_S else 500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        port = free_ports(1)[0]
        server = ThreadingHTTPServer(("127.0.0.1", port), Endpoint)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        oidc = {"service_account_email": "push@probe.iam.gserviceaccount.com", "audience": "probe"}
        cases = {"one": (1, True), "three": (3, True), "one-no-policy": (1, False), "three-no-policy": (3, False)}
        for name, (count, backoff) in cases.items():
            topic = self.topic(f"probe-push-{name}")
            self.subscription(f"probe-push-{name}", topic, f"http://127.0.0.1:{port}/{name}", backoff, oidc)
            for i in range(count):
                self.publisher.publish(topic, f"{name}-{i}".encode())
        started = time.time()
        time.sleep(FAIL_S + 60)
        server.shutdown()
        lines = [
            f"push with an OIDC token configured: Authorization headers seen {sorted({str(a) for a, _ in seen})}; "
            f"deliveryAttempt in the payload {sorted({str(d) for _, d in seen})}"
        ]
        for name in cases:
            for (path, data), times in sorted(hits.items()):
                if path == f"/{name}":
                    gaps = [round(b - a, 1) for a, b in zip(times, times[1:], strict=False)]
                    lines.append(
                        f"push retry, endpoint failing {FAIL_S:.0f} s, {name}: message {data} pushed "
                        f"{len(times)} times, gaps {gaps} s, last at {times[-1]:.0f} s"
                    )
        return lines

    # --- Pub/Sub streaming pull ---

    def killed_subscriber(self, trials: int = 4, watch_s: float = 90.0) -> list[str]:
        """When the messages of a SIGKILLed streaming-pull subscriber can be pulled again."""
        paths = []
        for trial in range(trials):
            topic = self.topic(f"probe-kill-{trial}")
            paths.append(self.subscription(f"probe-kill-{trial}", topic))
            for i in range(3):
                self.publisher.publish(topic, f"kill-{trial}-{i}".encode()).result()
        env = {**os.environ}
        holders = [
            subprocess.Popen(
                [sys.executable, "-c", HOLDER, path], env=env, start_new_session=True, stderr=subprocess.DEVNULL
            )
            for path in paths
        ]
        time.sleep(8)
        for holder in holders:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
        killed_at = time.time()
        back: dict[str, list[tuple[float, int]]] = defaultdict(list)
        while time.time() - killed_at < watch_s and any(len(back[p]) < 3 for p in paths):
            for path in (p for p in paths if len(back[p]) < 3):
                response = self.subscriber.pull(request={"subscription": path, "max_messages": 10}, timeout=5)
                for received in response.received_messages:
                    back[path].append((round(time.time() - killed_at, 1), received.delivery_attempt))
                if response.received_messages:
                    self.subscriber.acknowledge(
                        subscription=path, ack_ids=[m.ack_id for m in response.received_messages]
                    )
            time.sleep(0.5)
        return [
            f"streaming-pull subscriber (max_messages=1) SIGKILLed holding messages, trial {i}: "
            + (
                f"3 messages pullable again after {back[p][0][0]}-{back[p][-1][0]} s, attempts "
                f"{sorted(a for _, a in back[p])}"
                if back[p]
                else f"none pullable within {watch_s:.0f} s"
            )
            for i, p in enumerate(paths)
        ]

    def restart_keeps_nothing(self) -> list[str]:
        self.topic("probe-restart")
        document = self.firestore.collection("probe").document("kept")
        document.set({"kept": True})
        self.stack.restart_service("pubsub")
        self.stack.restart_service("firestore")
        from google.cloud import firestore, pubsub_v1

        topics = list(pubsub_v1.PublisherClient().list_topics(project=f"projects/{self.project}"))
        exists = firestore.Client(project=self.project).collection("probe").document("kept").get().exists
        return [
            f"Pub/Sub emulator restarted: {len(topics)} topics left; "
            f"Firestore emulator restarted: the document written before {'survived' if exists else 'is gone'}"
        ]

    # --- Firestore ---

    def firestore_contention(self, writers: int = 20) -> list[str]:
        from google.cloud import firestore

        document = self.firestore.collection("probe").document("hot")
        document.set({"count": 0})

        def increment(_: int) -> str:
            client = firestore.Client(project=self.project)
            reference = client.collection("probe").document("hot")

            @firestore.transactional
            def run(transaction: firestore.Transaction) -> None:
                snapshot = reference.get(transaction=transaction)
                transaction.update(reference, {"count": snapshot.get("count") + 1})

            try:
                run(client.transaction())
                return "ok"
            except Exception as exc:  # noqa: BLE001 - the probe reports whatever the client raises
                return type(exc).__name__

        started = time.monotonic()
        with ThreadPoolExecutor(writers) as pool:
            outcomes = list(pool.map(increment, range(writers)))
        count = document.get().get("count")
        failures = {o: outcomes.count(o) for o in set(outcomes) if o != "ok"}
        return [
            f"Firestore emulator, {writers} concurrent transactions on one document: {outcomes.count('ok')} "
            f"committed, failures {failures}, final count {count}, {time.monotonic() - started:.1f} s"
        ]

    def firestore_index(self) -> list[str]:
        from google.cloud import firestore

        tracks = self.firestore.collection("probe-tracks")
        for i in range(3):
            tracks.document(f"t{i}").set({"state": "DONE", "updated_at": f"2026-01-0{i + 1}"})
        query = tracks.where(filter=firestore.FieldFilter("state", "==", "DONE")).order_by(
            "updated_at", direction=firestore.Query.DESCENDING
        )
        return [
            f"Firestore emulator, equality + order_by on another field with no composite index defined: "
            f"{len(list(query.stream()))} documents returned (production needs the index)"
        ]

    # --- fake GCS ---

    def gcs_preconditions(self) -> list[str]:
        import requests
        from google.api_core import exceptions

        bucket = self.storage.create_bucket("probe-preconditions")
        url = os.environ["STORAGE_EMULATOR_HOST"]

        def library(name: str, **blob_args: object) -> list[str]:
            results = []
            for data in (b"x" * 300_000, b"y" * 300_000):
                try:
                    bucket.blob(name, **blob_args).upload_from_string(data, if_generation_match=0)
                    results.append("written")
                except exceptions.PreconditionFailed:
                    results.append("412")
            return results

        media = [
            requests.post(
                f"{url}/upload/storage/v1/b/{bucket.name}/o",
                data=b"z",
                params={"uploadType": "media", "name": "media", "ifGenerationMatch": "0"},
            ).status_code
            for _ in range(2)
        ]
        return [
            f"fake-gcs-server, create-only writes (ifGenerationMatch=0) twice: client multipart "
            f"{library('multipart')}, client resumable {library('resumable', chunk_size=256 * 1024)}, "
            f"plain media upload HTTP {media}"
        ]

    def gcs_notification(self) -> list[str]:
        topic = f"projects/{self.project}/topics/{topic_name(self.stack.config.topic_prefix, 'ingest')}"
        path = self.subscription("probe-notifications", topic, backoff=False)
        blob = self.storage.bucket(self.stack.config.ingest_bucket_name).blob("probe/overwritten.ogg")
        blob.upload_from_string(b"first")
        blob.upload_from_string(b"second")
        attributes: list[dict[str, str]] = []
        deadline = time.time() + 20
        while len(attributes) < 2 and time.time() < deadline:
            response = self.subscriber.pull(request={"subscription": path, "max_messages": 10}, timeout=5)
            attributes += [dict(m.message.attributes) for m in response.received_messages]
        return [
            f"fake-gcs-server OBJECT_FINALIZE of an overwrite: attribute names {sorted(attributes[-1])}"
            if attributes
            else "fake-gcs-server: no notification within 20 s"
        ]


def no_eventarc() -> list[str]:
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    listing = subprocess.run(
        ["gcloud", "beta", "emulators", "--help"], capture_output=True, text=True, env=env, timeout=60
    ).stdout
    groups = [g for g in ("bigtable", "datastore", "eventarc", "firestore", "pubsub", "spanner") if g in listing]
    return [f"gcloud beta emulators groups: {groups}"]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        stack = FaultStack(
            config=Config.from_env({}), ports=DevPorts.free(), state_dir=Path(folder), with_triton=False, extra_env={}
        )
        stack.start()
        try:
            with environ(stack.env):
                probes = Probes(stack)
                steps: list[Callable[[], list[str]]] = [
                    probes.gcs_preconditions,
                    probes.gcs_notification,
                    probes.firestore_index,
                    probes.firestore_contention,
                    probes.push,
                    probes.killed_subscriber,
                    probes.restart_keeps_nothing,
                    no_eventarc,
                ]
                for step in steps:
                    for line in step():
                        print(line, flush=True)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
