"""Tempo and metre on MMA's accompaniment arrangements, rendered with fluidsynth: the truth is in
the song files (benchmarks/arrangement_tempo.py, where BENCHMARKS.md's table comes from).

Floors: Acc1 at least the best of the peers on the same 70 clips (librosa's beat tracker 46;
Essentia's RhythmExtractor2013 43), Acc2 at least 90 %, and the metre (3 beats to the bar or 4)
right on at least 90 % of the 3/4 and 4/4 grooves. `make test` installs MMA, fluidsynth and the
soundfont (`make midi-renderer`).
"""

from __future__ import annotations

import shutil

import pytest

from benchmarks.arrangement_tempo import GROOVES, MULTIPLES, SIMPLE_3, SOUNDFONT, Clip, ours, render, right

pytestmark = pytest.mark.e2e
PEERS_BEST_ACC1 = 46  # of 70: librosa beat_track on this set (BENCHMARKS.md, 2026-12-07)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Clip, dict]]:
    missing = [tool for tool in ("mma", "fluidsynth") if shutil.which(tool) is None]
    if missing or not SOUNDFONT.is_file():
        pytest.skip(f"missing {missing or SOUNDFONT}: `make midi-renderer` installs them (apt-get, as root)")
    folder = tmp_path_factory.mktemp("arrangement-tempo")
    clips = [render(groove, metre, bpm, folder) for groove, metre, tempi in GROOVES for bpm in tempi]
    return [(clip, ours(clip.path)) for clip in clips]


def test_tempo_is_read_at_the_written_beat_at_least_as_often_as_the_peers_read_it(analysed):
    misses = [
        (c.groove, c.tempo_bpm, a["tempo_bpm"]) for c, a in analysed if not right(a["tempo_bpm"], c.tempo_bpm, (1.0,))
    ]
    assert len(analysed) - len(misses) >= PEERS_BEST_ACC1, misses


def test_tempo_is_the_written_one_or_a_multiple_on_nine_clips_in_ten(analysed):
    misses = [
        (c.groove, c.tempo_bpm, a["tempo_bpm"])
        for c, a in analysed
        if not right(a["tempo_bpm"], c.tempo_bpm, MULTIPLES)
    ]
    assert len(misses) <= len(analysed) // 10, misses


def test_waltzes_read_as_three_beats_to_the_bar_and_4_4_grooves_as_four(analysed):
    simple = [(c, a) for c, a in analysed if not c.metre.compound]
    wrong = [
        (c.groove, c.tempo_bpm, a["time_signature"])
        for c, a in simple
        if (a["time_signature"] == 3) != (c.metre is SIMPLE_3)
    ]
    assert len(wrong) <= len(simple) // 10, wrong
