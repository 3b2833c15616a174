"""The inventory sweep: find uploads whose notification never came, and ingest them.

GCS promises no delivery time for a notification and may even delete a notification config
that keeps failing; Pub/Sub may be down when an object lands. The track records cannot show
what never arrived, so the sweep reads the source of truth, the ingest bucket: page by page
from a saved cursor, each object version older than a threshold that has no track record is
sent to ingest, exactly as its notification would have been (ingest is idempotent, so a late
notification racing the sweep changes nothing).

Scaling: one pass lists pages for at most ``sweep_budget_s`` seconds and replays at most
``reconcile_batch`` uploads, starting where the last pass stopped (the cursor, a page token and
the last object handled, lives in the track store), and wraps to the start at the end of the
bucket. A bucket of N objects is covered every N / (objects per pass) passes; the figures are
in BENCHMARKS.md. Each page costs one list call and one batched existence read.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trackscan.domain.messages import UploadReceived
from trackscan.domain.ports import ListedObject
from trackscan.domain.track_ids import track_id_for
from trackscan.pipeline.deps import Deps

log = logging.getLogger(__name__)
SWEEP_CURSOR = "inventory-sweep"
PUBLISH_THREADS = 16


@dataclass
class SweepPass:
    """What one sweep pass saw and did."""

    listed: int = 0
    replayed: int = 0  # no track record and old enough: sent to ingest
    recent: int = 0  # no record yet, but its notification may still be on its way
    outside: int = 0  # not under a registered partner's prefix
    pages: int = 0
    wrapped: bool = False  # reached the end of the bucket: the next pass starts over


def sweep(deps: Deps, root: str, now: datetime | None = None) -> SweepPass:
    """One bounded pass over the objects under ``root`` (the ingest bucket) from the saved cursor.

    Objects younger than ``config.sweep_after_s`` are left to their notification; the pass reads
    pages of ``config.sweep_page`` objects for at most ``config.sweep_budget_s`` seconds.
    """
    done = SweepPass()
    config = deps.config
    cutoff = ((now or datetime.now(UTC)) - timedelta(seconds=config.sweep_after_s)).isoformat(timespec="milliseconds")
    deadline = time.monotonic() + config.sweep_budget_s
    position = _Position.parse(deps.cursors.cursor(SWEEP_CURSOR))
    # Replays are capped like reconcile's (reconcile_batch a pass): each waits for a publish.
    while done.replayed < config.reconcile_batch:
        page = deps.blobs.list_page(root, position.page, config.sweep_page)
        done.pages += 1
        objects = [o for o in page.objects if position.after is None or o.uri > position.after]
        last_replayed = _replay_unknown(deps, root, objects, cutoff, done, config.reconcile_batch - done.replayed)
        if last_replayed is not None:
            # The replay cap was reached mid-page: the next pass resumes on this page after it.
            deps.cursors.save_cursor(SWEEP_CURSOR, _Position(position.page, last_replayed).dump())
            break
        position = _Position(page.next_token, None)
        deps.cursors.save_cursor(SWEEP_CURSOR, position.dump())
        if page.next_token is None:
            done.wrapped = True
            break
        if time.monotonic() >= deadline:
            break
    log.info("inventory sweep pass", extra=vars(done))
    return done


@dataclass(frozen=True)
class _Position:
    """Where the next pass starts: a listing page token, and the last object handled on it."""

    page: str | None
    after: str | None

    @classmethod
    def parse(cls, saved: str | None) -> _Position:
        data = json.loads(saved) if saved else {}
        return cls(data.get("page"), data.get("after"))

    def dump(self) -> str:
        return json.dumps({"page": self.page, "after": self.after})


def _replay_unknown(
    deps: Deps, root: str, objects: list[ListedObject], cutoff: str, done: SweepPass, allowed: int
) -> str | None:
    """Replays the page's unannounced uploads, at most ``allowed``; the last one's URI if it stopped early."""
    done.listed += len(objects)
    uploads: list[tuple[UploadReceived, str]] = []
    for listed in objects:
        upload = _upload_of(listed, root, deps.config.partner_ids)
        if upload is not None:
            uploads.append((upload, listed.created_at))
    done.outside += len(objects) - len(uploads)
    known = deps.tracks.known({track_id_for(u.source_uri, u.generation) for u, _ in uploads})
    unknown = [(u, created_at) for u, created_at in uploads if track_id_for(u.source_uri, u.generation) not in known]
    due = [u for u, created_at in unknown if created_at <= cutoff]
    done.recent += len(unknown) - len(due)
    stopped_early = len(due) > allowed
    due = due[: max(allowed, 0)]
    # Each publish waits for the server's ack: many at once, or a page of lost uploads would
    # take minutes instead of a second or two.
    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        list(pool.map(deps.publisher.publish, due))
    done.replayed += len(due)
    for upload in due:
        log.info(
            "unannounced upload sent to ingest",
            extra={"track_id": track_id_for(upload.source_uri, upload.generation), "source_uri": upload.source_uri},
        )
    return due[-1].source_uri if stopped_early else None


def _upload_of(listed: ListedObject, root: str, partners: frozenset[str]) -> UploadReceived | None:
    name = listed.uri.removeprefix(root)
    partner, slash, _ = name.partition("/")
    if not slash or (partners and partner not in partners):
        return None
    return UploadReceived(listed.uri, listed.generation, listed.size_bytes, partner)
