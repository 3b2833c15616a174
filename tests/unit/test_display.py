"""Hostile object names shown safely: the CLI's status, tables and lookup, the console's pages, the API's lookup."""

from __future__ import annotations

import io
from dataclasses import replace

import click
import pytest
from rich.console import Console

from tests.api_fixtures import ACME, BUCKET, api_deps
from tests.console_fixtures import ALICE_KEY, console_app, console_deps
from trackscan.api import create_app
from trackscan.cli.lookup import find_track
from trackscan.cli.output import print_status, results_table
from trackscan.domain.display import object_name, shown, unshown
from trackscan.domain.tracks import ErrorInfo, TrackState, new_record

# ESC sequences (clear the screen, recolour), CR and LF (rewrite lines), NUL, tab, a bidi
# override, rich markup and HTML: everything a partner may put in a GCS object name.
HOSTILE_NAME = "api/'><b>x</b>/\x1b[2J\x1b[31mred\rover\nline\x00\t[bold]m[/bold]\u202eevil.wav"


def _hostile(deps, partner: str = "acme", state: TrackState = TrackState.FAILED):
    record = replace(
        new_record(f"gs://{BUCKET}/{partner}/{HOSTILE_NAME}", "1", partner, "ingest"),
        state=state,
        error=ErrorInfo("CORRUPT", f"could not decode {HOSTILE_NAME}", "ingest"),
    )
    return deps.tracks.create_if_absent(record)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\tb\r\n\x00", "a\\x09b\\x0d\\x0a\\x00"),
        ("\u202eevil", "\\u202eevil"),
        ("\x7f\x85\u2028", "\\x7f\\x85\\u2028"),
        ("C:\\x1b", "C:\\\\x1b"),
        ("é 中 😀", "é 中 😀"),
    ],
)
def test_shown_escapes_control_bidi_and_backslash_visibly_when_text_holds_them(text, expected):
    assert shown(text) == expected and unshown(shown(text)) == text


def test_object_name_is_the_whole_name_under_the_partner_folder_when_it_holds_slashes():
    assert object_name("gs://b/acme/api/'><b>x</b>.wav", "acme") == "api/'><b>x</b>.wav"
    assert object_name("file:///srv/in/acme/a%20b.wav", "acme") == "/srv/in/acme/a b.wav"


def test_cli_status_emits_no_control_character_from_data_when_the_name_is_hostile(tmp_path):
    record = _hostile(api_deps(tmp_path))
    out = io.StringIO()
    print_status(Console(file=out, color_system=None, width=400), record)
    text = out.getvalue()
    assert not any(c in text for c in "\x1b\r\x00\t\u202e") and text.count("\n") == len(text.splitlines())
    assert "\\x1b[2J" in text and "\\u202eevil.wav" in text and "[bold]m[/bold]" in text


def test_cli_results_table_shows_the_whole_escaped_object_name_when_the_name_is_hostile(tmp_path):
    record = _hostile(api_deps(tmp_path))
    out = io.StringIO()
    Console(file=out, color_system=None, width=2000).print(results_table([record]))
    text = out.getvalue()
    assert not any(c in text for c in "\x1b\r\x00\t\u202e")
    assert "api/'><b>x</b>/\\x1b[2J" in text and "[bold]m[/bold]" in text


def test_cli_lookup_finds_a_track_by_its_escaped_name_when_the_name_holds_control_characters(tmp_path):
    deps = api_deps(tmp_path)
    record = _hostile(deps)
    assert find_track(deps.tracks, shown(record.source_name)).track_id == record.track_id
    with pytest.raises(click.ClickException) as refused:
        find_track(deps.tracks, "no\x1b[2Jsuch.wav")
    assert "\x1b" not in refused.value.message and "\\x1b" in refused.value.message


def test_console_shows_the_whole_escaped_name_and_no_control_character_when_the_name_is_hostile(tmp_path):
    deps = console_deps(tmp_path / "home")
    record = _hostile(deps)
    client = console_app(deps, tmp_path / "ingest").test_client()
    client.get("/console/login")
    with client.session_transaction() as session:
        token = session["csrf"]
    client.post("/console/login", data={"key": ALICE_KEY, "csrf": token})
    for path in ("/console/", f"/console/tracks/{record.track_id}"):
        page = client.get(path).get_data(as_text=True)
        assert not any(c in page for c in "\x1b\r\x00\t\u202e"), path
        assert "api/&#39;&gt;&lt;b&gt;x&lt;/b&gt;/\\x1b[2J" in page and "\\u202eevil.wav" in page
    found = client.get("/console/search", query_string={"q": shown(record.source_name)}).get_data(as_text=True)
    assert record.track_id in found


def test_api_lists_a_track_by_source_when_its_name_holds_tab_cr_lf_or_nul(tmp_path):
    deps = api_deps(tmp_path)
    record = _hostile(deps)
    client = create_app(deps).test_client()
    for source in (record.source_uri, record.source_name):
        listed = client.get("/v1/tracks", query_string={"source": source}, headers=ACME)
        assert listed.status_code == 200, listed.get_data(as_text=True)
        assert [t["track_id"] for t in listed.json["tracks"]] == [record.track_id]
