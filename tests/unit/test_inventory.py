"""The inventory sweep ingests uploads whose notification never came, a page per pass."""

import os
from dataclasses import replace
from datetime import UTC, datetime

from tests.pipeline_fixtures import make_deps
from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import UploadReceived
from trackscan.domain.tracks import new_record
from trackscan.pipeline.inventory import sweep

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _object(root, name: str, age_s: float):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"audio")
    stamp = NOW.timestamp() - age_s
    os.utime(path, (stamp, stamp))
    info = os.stat(path)
    return UploadReceived(uri_of(path), str(info.st_mtime_ns), info.st_size, name.partition("/")[0])


def _deps(tmp_path, **changes):
    deps = make_deps(tmp_path / "home")
    return replace(deps, config=replace(deps.config, **changes))


def test_sweep_sends_only_old_unknown_uploads_to_ingest_when_a_notification_was_lost(tmp_path):
    root = tmp_path / "bucket"
    lost = _object(root, "acme/lost.ogg", age_s=3600)
    recorded = _object(root, "acme/recorded.ogg", age_s=3600)
    _object(root, "acme/fresh.ogg", age_s=5)
    _object(root, "loose-file.ogg", age_s=3600)
    deps = _deps(tmp_path, sweep_after_s=600.0)
    deps.tracks.create_if_absent(new_record(recorded.source_uri, recorded.generation, "acme", "ingest"))
    done = sweep(deps, f"{uri_of(root)}/", now=NOW)
    assert deps.publisher.drain() == [lost]
    assert (done.listed, done.replayed, done.recent, done.outside, done.wrapped) == (4, 1, 1, 1, True)


def test_sweep_skips_unregistered_partners_when_a_registry_is_configured(tmp_path):
    root = tmp_path / "bucket"
    known = _object(root, "acme/a.ogg", age_s=3600)
    _object(root, "Acme/b.ogg", age_s=3600)
    done = sweep(_deps(tmp_path, partners="acme"), f"{uri_of(root)}/", now=NOW)
    assert done.outside == 1 and done.replayed == 1
    assert known.partner == "acme"


def test_sweep_resumes_from_its_cursor_and_wraps_when_the_bucket_spans_several_passes(tmp_path):
    root = tmp_path / "bucket"
    uploads = [_object(root, f"acme/{i:02d}.ogg", age_s=3600) for i in range(5)]
    deps = _deps(tmp_path, sweep_page=2, sweep_budget_s=0.0)  # one page a pass
    passes = [sweep(deps, f"{uri_of(root)}/", now=NOW) for _ in range(3)]
    assert [p.listed for p in passes] == [2, 2, 1]
    assert [p.wrapped for p in passes] == [False, False, True]
    assert sorted(deps.publisher.drain(), key=lambda u: u.source_uri) == uploads
    again = sweep(deps, f"{uri_of(root)}/", now=NOW)  # starts over; nothing known yet, so replays again
    assert again.listed == 2 and again.replayed == 2


def test_sweep_caps_replays_a_pass_and_resumes_after_the_last_one_when_many_were_lost(tmp_path):
    root = tmp_path / "bucket"
    uploads = [_object(root, f"acme/{i:02d}.ogg", age_s=3600) for i in range(7)]
    deps = _deps(tmp_path, reconcile_batch=3)
    replayed = []
    for _ in range(3):
        sweep(deps, f"{uri_of(root)}/", now=NOW)
        replayed.append(sorted(u.source_uri for u in deps.publisher.drain()))
    assert [len(batch) for batch in replayed] == [3, 3, 1]
    assert sum(replayed, []) == [u.source_uri for u in uploads]  # each once, in name order
