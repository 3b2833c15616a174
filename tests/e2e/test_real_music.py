"""Real music from Debian packages: the model must hear the difference between genres."""

import pytest

from tests.e2e.conftest import json_lines, run_cli

pytestmark = pytest.mark.e2e
ORCHESTRAL = "wesnoth-1.16-music/elvish-theme.ogg"
ELECTRONIC = "torus-trooper-data/tt1.ogg"


@pytest.fixture(scope="module")
def tagged(music_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("home") / ".trackscan"
    done = run_cli(["run", str(music_dir / ORCHESTRAL), str(music_dir / ELECTRONIC), "--json"], home)
    assert done.returncode == 0, done.stderr
    return json_lines(done.stdout)


def test_run_tags_classical_or_strings_when_the_track_is_orchestral(tagged):
    record = tagged["elvish-theme.ogg"]
    assert {"classical", "strings"} & set(record["top_tags"]), record["top_tags"]
    assert record["duration_s"] > 120  # long enough to span several segments


def test_run_tags_electronic_or_techno_when_the_track_is_electronic(tagged):
    record = tagged["tt1.ogg"]
    assert {"electronic", "techno"} & set(record["top_tags"]), record["top_tags"]
