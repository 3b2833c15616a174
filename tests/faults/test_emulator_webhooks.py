"""Partners' webhooks on the emulator stack: a receiver that is down, or one that hangs.

The deliver function sends each track's result event to a receiver on loopback that verifies
every signature with the standardwebhooks library. Nothing may be lost through an outage (the
same webhook-id on every retry), and a partner whose receiver hangs delays neither the pipeline
nor another partner's events. Each test adds a row to FAULTS.md.

One event fails at a time: the Pub/Sub emulator stops redelivering pushes when several messages
of a subscription fail at once (3 messages answered 500 get 3 pushes each, then none for a
minute and more; one message gets its 10 attempts, then its dead letter), which Pub/Sub does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.faults.emulator_stack import Cloud, FaultStack, Upload
from tests.faults.outcomes import fault_row, make_songs
from tests.faults.pull_workers import Tail
from tests.faults.report import ROWS
from tests.webhook_receiver import NEW_SECRET, OLD_SECRET, Received, receiver
from trackscan.dev.layout import DEV_PARTNER, free_ports

pytestmark = pytest.mark.faults
OUTAGE_S = 60.0
OTHER_PARTNER = "other-label"
EVENTS_WITHIN_S = 300  # generous: the machine runs the whole stack on 2 cores


@contextmanager
def webhooks(stack: FaultStack, **urls: str) -> Iterator[None]:
    """ingest accepts OTHER_PARTNER too; deliver sends each partner's events to its URL."""
    secrets = {DEV_PARTNER: OLD_SECRET, OTHER_PARTNER: NEW_SECRET}
    env = {
        "TRACKSCAN_PARTNERS": f"{DEV_PARTNER},{OTHER_PARTNER}",
        "TRACKSCAN_WEBHOOKS": ",".join(f"{p}={u}" for p, u in urls.items()),
        "TRACKSCAN_WEBHOOK_SECRETS": ",".join(f"{p}={secrets[p]}" for p in urls),
    }
    with stack.restarted(["ingest", "deliver", "dead_letter"], env):
        yield


def upload_as(cloud: Cloud, partner: str, path: Path) -> Upload:
    """Uploads a file under a partner's prefix of the ingest bucket."""
    blob = cloud.storage.bucket(cloud.config.ingest_bucket_name).blob(f"{partner}/{path.name}")
    blob.upload_from_filename(str(path))
    return Upload(blob.name, f"gs://{cloud.config.ingest_bucket_name}/{blob.name}", str(blob.generation), blob.size)


def wait_logged(log: Tail, message: str, track_ids: list[str], timeout_s: float) -> list:
    """The log's lines of that message for those tracks, once there is one for each (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = log.matching(message, track_ids)
        if {line["track_id"] for _, line in lines} >= set(track_ids):
            return lines
        time.sleep(0.5)
    return log.matching(message, track_ids)


def wait_events(got: Received, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len({e["event_id"] for e in got.events}) < count and time.monotonic() < deadline:
        time.sleep(0.5)


def test_a_webhook_registered_through_the_api_gets_events_signed_with_the_secret_it_showed(stack, cloud, tmp_path):
    # The API shows the secret and deliver signs with it: two processes, one webhook key, and the
    # registration in Firestore.
    api = stack.env["TRACKSCAN_API_URL"]
    key = {"X-API-Key": stack.api_key}
    (song,) = make_songs(tmp_path, 1, seconds=5.0, first_seed=430)
    with receiver() as (url, got):
        registered = requests.put(f"{api}/v1/webhook", json={"url": url}, headers=key, timeout=30)
        assert registered.status_code == 200, registered.text
        got.secrets.append(registered.json()["secret"])
        try:
            test = requests.post(f"{api}/v1/webhook:test", headers=key, timeout=30).json()
            upload = cloud.upload(song)
            records = cloud.wait_final([upload.track_id], timeout_s=EVENTS_WITHIN_S)
            wait_events(got, 2, EVENTS_WITHIN_S)  # the test event and the track's
            attempts = _listed_attempts(api, key, 2)
        finally:
            requests.delete(f"{api}/v1/webhook", headers=key, timeout=30)
    assert [(a["type"], a["outcome"], a["status"]) for a in attempts[:2]] == [
        ("track.done", "delivered", 200),
        ("webhook.test", "delivered", 200),
    ]
    assert attempts[0]["event_id"] == got.events[1]["event_id"]
    assert test["delivered"] and records[upload.track_id]["state"] == "DONE"
    assert got.unverified == 0
    assert [e["type"] for e in got.events] == ["webhook.test", "track.done"]
    assert got.events[1]["track_id"] == upload.track_id


def test_every_event_arrives_with_its_webhook_id_when_the_receiver_is_down_for_a_minute(stack, cloud, tmp_path):
    songs = make_songs(tmp_path, 1, seconds=5.0, first_seed=400)
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/hook"
    deliver_log, dead_letter_log = Tail(stack.log_path("deliver")), Tail(stack.log_path("dead_letter"))
    with webhooks(stack, **{DEV_PARTNER: url}):
        down_at = time.monotonic()
        uploads = [cloud.upload(song) for song in songs]
        records = cloud.wait_final([u.track_id for u in uploads], timeout_s=EVENTS_WITHIN_S)
        time.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
        failed_tries = deliver_log.matching("webhook failed", [u.track_id for u in uploads])
        with receiver(OLD_SECRET, port=port) as (_, got):
            back_at = time.monotonic()
            wait_events(got, len(uploads), EVENTS_WITHIN_S)
            delivered = wait_logged(deliver_log, "webhook delivered", [u.track_id for u in uploads], 60)
    rounds = dead_letter_log.matching("webhook sent round again", [u.track_id for u in uploads])
    deliver_log.close()
    dead_letter_log.close()
    ids = {e["track_id"]: e["event_id"] for e in got.events}
    row = fault_row(
        f"the partner's webhook receiver is down for {OUTAGE_S:.0f} s, then back",
        uploads,
        records,
        {},
        recover_s=(max(got.arrived) - back_at) if got.arrived else None,
    )
    row.note = (
        f"{len(failed_tries)} failed sends while down, {len(rounds)} dead letter(s) sent round again by the "
        f"dead-letter function; {len(ids)} of {len(uploads)} events delivered once back ({len(got.events)} "
        "copies), every signature verified (standardwebhooks), one webhook-id per event"
    )
    ROWS.append(row)
    assert got.unverified == 0
    assert set(ids) == {u.track_id for u in uploads}
    assert all(records[u.track_id]["state"] == "DONE" for u in uploads)
    assert failed_tries, "the outage was not seen: nothing was sent while the receiver was down"
    assert {h["webhook-id"] for h in got.headers} == set(ids.values())
    assert delivered, "deliver never saw a 2xx"


def test_a_hanging_receiver_delays_neither_the_pipeline_nor_another_partners_events(stack, cloud, tmp_path):
    stuck_songs = make_songs(tmp_path, 1, seconds=5.0, first_seed=410)
    (other_song,) = make_songs(tmp_path, 1, seconds=5.0, first_seed=420)
    deliver_log = Tail(stack.log_path("deliver"))
    with receiver(OLD_SECRET) as (stuck_url, stuck), receiver(NEW_SECRET) as (other_url, other):
        stuck.answer.clear()  # every request to it hangs: deliver gives up after its 5 s timeout
        with webhooks(stack, **{DEV_PARTNER: stuck_url, OTHER_PARTNER: other_url}):
            stuck_uploads = [cloud.upload(song) for song in stuck_songs]
            other_upload = upload_as(cloud, OTHER_PARTNER, other_song)
            uploads = [*stuck_uploads, other_upload]
            records = cloud.wait_final([u.track_id for u in uploads], timeout_s=EVENTS_WITHIN_S)
            wait_events(other, 1, EVENTS_WITHIN_S)
            wait_logged(deliver_log, "webhook failed", [u.track_id for u in stuck_uploads], 60)  # a send timed out
            stuck_answered_meanwhile = len(stuck.events)
            released_at = time.monotonic()
            stuck.answer.set()
            # A retry after the release, not a hung request answered late (its sender gave up).
            delivered = wait_logged(deliver_log, "webhook delivered", [u.track_id for u in stuck_uploads], 120)
    timed_out = deliver_log.matching("webhook failed", [u.track_id for u in stuck_uploads])
    deliver_log.close()
    row = fault_row(
        "one partner's webhook receiver hangs (never answers) while another's works",
        uploads,
        records,
        {},
        recover_s=(delivered[0][0] - released_at) if delivered else None,
    )
    row.note = (
        f"the other partner's event arrived while the hanging receiver had answered {stuck_answered_meanwhile} "
        f"({len(timed_out)} sends to it timed out after 5 s); once it answered again, {len(delivered)} of "
        f"{len(stuck_uploads)} events delivered, with the same webhook-id"
    )
    ROWS.append(row)
    assert all(records[u.track_id]["state"] == "DONE" for u in uploads), "the pipeline waited on a webhook"
    assert [e["track_id"] for e in other.events][:1] == [other_upload.track_id]
    assert stuck_answered_meanwhile == 0 and timed_out
    assert {line["track_id"] for _, line in delivered} == {u.track_id for u in stuck_uploads}
    assert {h["webhook-id"] for h in stuck.headers} == {line["event_id"] for _, line in delivered}
    assert stuck.unverified == other.unverified == 0


def _listed_attempts(api: str, key: dict[str, str], count: int) -> list[dict]:
    """GET /v1/webhook's attempts once it lists count (the deliver step writes them in batches)."""
    deadline = time.monotonic() + EVENTS_WITHIN_S
    while True:
        attempts = requests.get(f"{api}/v1/webhook", headers=key, timeout=30).json()["attempts"]
        if len(attempts) >= count or time.monotonic() > deadline:
            return attempts
        time.sleep(0.5)
