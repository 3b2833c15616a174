"""One deadline per step: what a backend call may take is what is left of the step's budget."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.pipeline_fixtures import PatchStatsTagger, make_deps, run_to_completion, upload
from trackscan.domain.step_deadline import StepDeadlineError, step_deadline, time_left
from trackscan.domain.tracks import TrackState
from trackscan.pipeline.step_policy import FAILED_NOTE_RESERVE_S, run_step


def test_time_left_keeps_the_call_s_own_cap_outside_a_step():
    assert time_left(60.0, "a read") == 60.0


def test_time_left_is_what_is_left_of_the_step_and_an_inner_deadline_never_extends_it():
    with step_deadline(5.0):
        assert 4.0 < time_left(60.0, "a read") <= 5.0
        assert time_left(1.0, "a read") == 1.0  # the call's cap, where nearer
        with step_deadline(30.0):
            assert time_left(60.0, "a read") <= 5.0
        with step_deadline(0):  # no budget of its own: the enclosing one holds
            assert time_left(60.0, "a read") <= 5.0
    assert time_left(60.0, "a read") == 60.0


def test_time_left_raises_a_retryable_error_naming_the_call_once_the_deadline_has_passed():
    with step_deadline(0.01), pytest.raises(StepDeadlineError, match="before writing gs://b/o"):
        time.sleep(0.02)
        time_left(60.0, "writing gs://b/o")


class _SlowTagger(PatchStatsTagger):
    """Scores like PatchStatsTagger, after time that eats the step's budget; notes each call's limit."""

    def __init__(self, takes_s: float) -> None:
        super().__init__()
        self.takes_s, self.limits_s = takes_s, []

    def predict(self, patches):
        self.limits_s.append(time_left(8.0, "calling the model"))
        time.sleep(self.takes_s)
        time_left(8.0, "writing the predictions")  # the next backend call of the step
        return super().predict(patches)


def test_a_step_past_its_budget_raises_retryable_notes_why_and_the_track_finishes_on_redelivery(tmp_path):
    budget_s = FAILED_NOTE_RESERVE_S + 0.5
    deps = make_deps(tmp_path, step_budget_s=budget_s, segment_s=10.0)
    song = write_audio(tmp_path / "song.flac", music_like(4.0))
    run_step(upload(song), deps)
    (planned,) = deps.publisher.drain()
    run_step(planned, deps)
    (ready,) = deps.publisher.drain()
    slow = _SlowTagger(takes_s=budget_s)
    with pytest.raises(StepDeadlineError, match="before writing the predictions"):
        run_step(ready, replace(deps, tagger=slow))
    assert slow.limits_s and max(slow.limits_s) <= budget_s - FAILED_NOTE_RESERVE_S
    record = deps.tracks.get(planned.track_id)
    assert record is not None and record.state is TrackState.INFERRING
    assert "StepDeadlineError" in record.last_failed_attempt.error  # noted from the reserve
    run_to_completion(deps, ready)  # redelivered to a worker with time to spare
    assert deps.tracks.get(planned.track_id).state is TrackState.DONE
