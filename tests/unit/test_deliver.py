"""Result events reach a partner's webhook signed, once per final state, whatever the receiver does."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.audio_fixtures import bytes_file, music_like, write_audio
from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from tests.webhook_receiver import NEW_SECRET, OLD_SECRET, receiver
from trackscan.domain.errors import RetryableError
from trackscan.domain.messages import TrackFinished, TrackInferred, to_json
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState
from trackscan.pipeline import deliver
from trackscan.pipeline.step_policy import handle_dead_letter, run_step


def _webhook_deps(tmp_path, url: str, *secrets: str, **changes: object):
    return make_deps(
        tmp_path / "home",
        segment_s=10.0,
        webhooks=f"*={url}",
        webhook_secrets=",".join(f"*={s}" for s in secrets),
        webhook_allow_loopback=True,
        **changes,
    )


def _events(handled) -> list[TrackFinished]:
    return [m for m in handled if isinstance(m, TrackFinished)]


def test_two_uploads_give_two_signed_done_events_when_a_webhook_is_set(tmp_path):
    songs = [write_audio(tmp_path / f"song{i}.flac", music_like(12.0 + i)) for i in range(2)]
    with receiver(OLD_SECRET) as (url, got):
        deps = _webhook_deps(tmp_path, url, OLD_SECRET)
        run_to_completion(deps, *(upload(s) for s in songs))
    assert got.unverified == 0
    assert sorted(e["track_id"] for e in got.events) == sorted(
        track_id_for(upload(s).source_uri, upload(s).generation) for s in songs
    )
    for event, headers in zip(got.events, got.headers, strict=True):
        record = deps.tracks.get(event["track_id"])
        assert event["type"] == "track.done" and event["state"] == "DONE" and event["partner"] == "local"
        assert headers["webhook-id"] == event["event_id"]
        assert event["top_tags"] == record.result.top_tags and len(event["tags"]) == 100
        assert event["tempo_bpm"] == record.result.tempo_bpm and event["model_sha256"] == record.model.sha256
        assert event["embedding"] == []  # off unless TRACKSCAN_RESULTS_EMBEDDING


def test_a_failed_track_sends_its_error_when_the_audio_is_bad(tmp_path):
    bad = bytes_file(tmp_path / "noise.mp3", b"not audio at all" * 100)
    with receiver(OLD_SECRET) as (url, got):
        run_to_completion(_webhook_deps(tmp_path, url, OLD_SECRET), upload(bad))
    (event,) = got.events
    assert event["type"] == "track.failed" and event["state"] == "FAILED"
    assert event["error_code"] and event["error_message"] and event["tags"] == [] and event["tempo_bpm"] is None


def test_every_copy_of_one_state_change_has_one_event_id_when_finalize_is_redelivered(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(12.0))
    with receiver(OLD_SECRET) as (url, got):
        deps = _webhook_deps(tmp_path, url, OLD_SECRET)
        handled = run_to_completion(deps, upload(song))
        finalize = [m for m in handled if isinstance(m, TrackInferred)][-1]
        again = run_to_completion(deps, finalize, upload(song))  # a redelivered finalize, a duplicate upload event
    assert len(_events(again)) == 2 and len(got.events) == 3
    assert len({e["event_id"] for e in got.events}) == 1


def _run_holding_events(deps, *messages) -> list[TrackFinished]:
    """Runs the pipeline up to the deliver step; returns the result events it published."""
    queue, events = list(messages), []
    while queue:
        message = queue.pop(0)
        if isinstance(message, TrackFinished):
            events.append(message)
            continue
        run_step(message, deps)
        queue.extend(deps.publisher.drain())
    return events


def test_a_failing_receiver_is_retried_with_the_same_webhook_id_and_the_track_stays_done(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(12.0))
    with receiver(OLD_SECRET) as (url, got):
        deps = _webhook_deps(tmp_path, url, OLD_SECRET)
        (event,) = _run_holding_events(deps, upload(song))
        got.status = 500
        for _ in range(2):
            with pytest.raises(RetryableError, match="HTTP 500"):
                run_step(event, deps, attempt=1)
        got.status = 200
        run_step(event, deps, attempt=3)
    assert [h["webhook-id"] for h in got.headers] == [event.event_id] * 3
    record = deps.tracks.get(event.track_id)
    assert record.state is TrackState.DONE and record.last_failed_attempt.step == "deliver"


def test_a_dead_receiver_never_fails_the_track_and_is_sent_round_again_while_the_event_is_young(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(12.0))
    deps = _webhook_deps(tmp_path, "http://127.0.0.1:9/hook", OLD_SECRET)  # the discard port: nothing listens
    (event,) = _run_holding_events(deps, upload(song))
    with pytest.raises(RetryableError, match="not reached"):
        run_step(event, deps)
    handle_dead_letter(event, "RetryableError: not reached", deps, attempts=100)
    assert deps.publisher.drain() == [event]  # a new round of retries, the same event id
    assert deps.tracks.get(event.track_id).state is TrackState.DONE
    old_enough = replace(deps, config=replace(deps.config, webhook_retry_s=0.0))
    handle_dead_letter(event, "RetryableError: not reached", old_enough, attempts=100)
    assert deps.publisher.drain() == []  # logged undelivered
    assert deps.tracks.get(event.track_id).state is TrackState.DONE


def test_a_refused_webhook_url_is_not_sent_to_and_not_retried(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(12.0))
    deps = _webhook_deps(tmp_path, "https://169.254.169.254/computeMetadata/v1/", OLD_SECRET)
    (event,) = _run_holding_events(deps, upload(song))
    deliver.handle(event, deps)  # refused: logged, acknowledged
    assert deps.tracks.get(event.track_id).state is TrackState.DONE


def test_a_receiver_holding_either_secret_verifies_when_the_secret_is_rotated(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(12.0))
    with receiver(OLD_SECRET) as (old_url, old_got), receiver(NEW_SECRET) as (new_url, new_got):
        deps = _webhook_deps(tmp_path, old_url, OLD_SECRET, NEW_SECRET)
        (event,) = _run_holding_events(deps, upload(song))
        deliver.handle(event, deps)
        moved = replace(deps, config=replace(deps.config, webhooks=f"*={new_url}"))
        deliver.handle(event, moved)
    assert old_got.unverified == new_got.unverified == 0
    assert len(old_got.events) == len(new_got.events) == 1
    assert len(old_got.headers[0]["webhook-signature"].split(" ")) == 2


def test_a_partner_without_a_webhook_gets_nothing_sent_when_another_has_one(tmp_path):
    songs = [write_audio(tmp_path / f"song{i}.flac", music_like(12.0 + i)) for i in range(2)]
    with receiver(OLD_SECRET) as (url, got):
        deps = make_deps(
            tmp_path / "home",
            webhooks=f"label-a={url}",
            webhook_secrets=f"label-a={OLD_SECRET}",
            webhook_allow_loopback=True,
        )
        run_to_completion(deps, upload(songs[0], partner="label-b"), upload(songs[1], partner="label-a"))
    assert [e["partner"] for e in got.events] == ["label-a"]


def test_the_receiver_in_the_docs_verifies_an_event_and_refuses_a_forged_one(tmp_path, capsys):
    text = (Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text.split("## Result events and webhooks")[1], re.S)
    namespace: dict = {"__name__": __name__}  # Flask finds its root folder from the module's name
    exec(code.replace('"whsec_..."', repr(OLD_SECRET)), namespace)
    song = write_audio(tmp_path / "song.flac", music_like(12.0))
    deps = _webhook_deps(tmp_path, "http://127.0.0.1:9/hook", OLD_SECRET)
    (event,) = _run_holding_events(deps, upload(song))
    body = to_json(event).encode()
    headers = deliver.signed_headers(event.event_id, body, (OLD_SECRET,), datetime.now(UTC))
    client = namespace["app"].test_client()
    assert client.post("/trackscan", data=body, headers=headers).status_code == 204
    assert client.post("/trackscan", data=body, headers=headers).status_code == 204  # a repeat: printed once
    assert capsys.readouterr().out.count(event.track_id) == 1
    forged = deliver.signed_headers(event.event_id, body, (NEW_SECRET,), datetime.now(UTC))
    assert client.post("/trackscan", data=body, headers=forged).status_code >= 400
