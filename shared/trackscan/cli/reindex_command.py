"""``trackscan reindex``: write every DONE track's search vector again after its definition changed."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trackscan.cli.cloud_access import require_cloud
from trackscan.domain.config import Config
from trackscan.domain.similarity import SEARCH_DIMENSIONS
from trackscan.domain.tracks import TrackState
from trackscan.runtimes.bootstrap import firestore_track_store

PAGE = 500  # tracks per batched write: Firestore takes at most 500 writes in one batch
# The pass's saved position, per vector definition: a later change starts from the first track.
CURSOR = f"reindex-{SEARCH_DIMENSIONS}"


@click.command()
@click.option("--cloud", is_flag=True, help="Rewrite the vectors in Firestore (the local index needs no pass).")
def reindex(cloud: bool) -> None:
    """Write every DONE track's search vector again, as this version defines it.

    Needed once in the cloud after an upgrade that changes the vector, once Terraform has rebuilt
    the Firestore vector index for its new size: until then older tracks are not found by
    `trackscan similar` or the API. An interrupted pass resumes where it stopped. The local store
    needs none: it indexes its tracks anew when its database is opened.
    """
    if not cloud:
        click.echo("The local index is written again when its database is opened: nothing to do.")
        return
    require_cloud(("firestore",))
    store = firestore_track_store(Config.from_env())
    after = store.cursor(CURSOR)
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("rewriting search vectors"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    rewritten = 0
    with progress:
        task = progress.add_task("tracks", total=store.count(None, TrackState.DONE) or None)
        while True:
            page = store.done_after(after, PAGE)
            if page:
                store.rewrite_search_vectors(page)
                rewritten, after = rewritten + len(page), page[-1].track_id
                progress.update(task, advance=len(page))
            finished = len(page) < PAGE
            store.save_cursor(CURSOR, None if finished else after)
            if finished:
                break
    click.echo(f"{rewritten} search vector(s) written; every DONE track now has the {SEARCH_DIMENSIONS}-number vector.")
