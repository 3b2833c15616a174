"""Fixtures of the handler-level tests: local adapters in a temporary folder and a generated song."""

from pathlib import Path

import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.pipeline_fixtures import make_deps


@pytest.fixture
def deps(tmp_path):
    """Local adapters with 10 s segments, so a 25 s song spans three."""
    return make_deps(tmp_path / "home", segment_s=10.0)


@pytest.fixture
def song(tmp_path) -> Path:
    return write_audio(tmp_path / "song.flac", music_like(25.0))
