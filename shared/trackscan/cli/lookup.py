"""Finding a track the way a person names it: a track id, a file path, a URI or a bare file name."""

from __future__ import annotations

import re
from pathlib import Path

import click

from trackscan.cli.files import upload_event
from trackscan.cli.output import shown_label
from trackscan.domain.display import shown, unshown
from trackscan.domain.messages import split_pinned_uri
from trackscan.domain.ports import TrackStore
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackRecord

TRACK_ID = re.compile(r"t[0-9a-f]{24}")
SHOWN_MATCHES = 10


def find_track(store: TrackStore, query: str) -> TrackRecord:
    """The track that ``query`` names.

    Raises:
        click.ClickException: no track matches, or a bare name matches several (they are listed).
    """
    # A name as shown (escaped, trackscan.domain.display) finds the track too: "a\\tb.wav" is "a<tab>b.wav".
    matches = _matches(store, query) or (_matches(store, unshown(query)) if unshown(query) != query else [])
    if not matches:
        raise click.ClickException(
            f"No track {shown(query)} is known (give a track id, a file path, a URI or a file name)."
        )
    if len(matches) > 1:
        listed = "\n".join(f"  {r.track_id}  {r.state.value:<10} {shown_label(r)}" for r in matches)
        raise click.ClickException(f"{len(matches)} tracks are named {shown(query)}; give one of their ids:\n{listed}")
    return matches[0]


def _matches(store: TrackStore, query: str) -> list[TrackRecord]:
    path = Path(query)
    if "://" not in query and path.exists():
        event = upload_event(path)
        current = store.get(track_id_for(event.source_uri, event.generation))
        found = [current] if current else store.by_source(event.source_uri, 1)
        if found or query != path.name:
            return found
        # A bare name that is also a file here (song.ogg just uploaded to the dev stack from this
        # folder): not known as a local file, so it is the name of a track anywhere.
    if TRACK_ID.fullmatch(query):
        record = store.get(query)
        return [record] if record else []
    if "://" in query:
        # A gs:// object name may hold '#': a URI pinned to a generation is tried first, then
        # the whole text as a URI.
        uri, generation = split_pinned_uri(query)
        record = store.get(track_id_for(uri, generation)) if generation else None
        return [record] if record else store.by_source(query, 1)
    return store.by_name(path.name, SHOWN_MATCHES)
