"""``trackscan backfill``: re-tag the results another model made, locally or through the cloud pipeline."""

from __future__ import annotations

import time

import click

from trackscan.costs import lanes
from trackscan.costs.model import load_inputs
from trackscan.domain.config import Config
from trackscan.domain.messages import UploadReceived
from trackscan.domain.results import ModelInfo
from trackscan.pipeline import backfill as backfiller
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.steps import CLOUD_RUN_LANE, LANES


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Only say how many results another model made and what redoing them costs."
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Most tracks to re-run in this pass."
)
@click.option(
    "--rate", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="Most re-runs started a second."
)
@click.option("--cloud", is_flag=True, help="Publish the re-runs to the cloud pipeline (Firestore, Pub/Sub, GCS).")
@click.option(
    "--lane",
    type=click.Choice(LANES),
    default=CLOUD_RUN_LANE,
    show_default=True,
    help="Which lane the cost model (trackscan cost) prices the re-runs on.",
)
def backfill(dry_run: bool, limit: int, rate: float, cloud: bool, lane: str) -> None:
    """Re-tag, at a bounded rate, the DONE tracks whose result another model made.

    Each re-run goes through the normal pipeline under an id of its own; the track keeps its old
    result (and stays DONE) until the new one is committed onto it. A pass resumes where the last
    one stopped. Locally the re-runs run here; with --cloud they are published to the ingest step.
    """
    deps = _deps(cloud)
    model = deps.tagger.model_info()
    found = backfiller.survey(deps.queries, model)
    click.echo(_survey_line(found, model, lane))
    if dry_run or not found.stale:
        return
    if cloud:
        done = backfiller.backfill_pass(deps, model, limit, rate, deps.publisher.publish)
    else:
        done = _run_locally(deps, model, limit, rate)
    click.echo(
        f"{done.sent} re-run(s) sent, {done.running} already under way, {done.failed_before} left alone "
        f"(a re-run by this model FAILED), {done.source_gone} with their object gone"
        f"{'; reached the last track' if done.wrapped else ''}."
    )


def _deps(cloud: bool) -> Deps:
    if cloud:
        from trackscan.cli.cloud_access import require_cloud
        from trackscan.runtimes import cloud_runtime

        require_cloud(("firestore", "pubsub", "storage"))
        return cloud_runtime.cloud_deps()
    from trackscan.runtimes.bootstrap import local_deps

    return local_deps(Config.from_env())


def _survey_line(found: backfiller.Survey, model: ModelInfo, lane: str) -> str:
    if not found.stale:
        return f"All {found.done} DONE result(s) were made by the current model ({model.name} {model.sha256[:12]})."
    models = ", ".join(f"{label}: {count}" for label, count in sorted(found.by_model.items()))
    return (
        f"{found.stale} of {found.done} DONE result(s) were made by another model than {model.name} "
        f"{model.sha256[:12]} ({models}): {found.audio_s / 3600:.2f} h of audio. {_cost(found.audio_s, lane)}"
    )


def _cost(audio_s: float, lane: str) -> str:
    """What re-tagging that much audio adds on a lane: its per-track part (the base is paid anyway)."""
    region, costs = lanes.lane_costs()
    per_million = costs[lane].per_track_usd_per_million
    track_s = load_inputs().track_s
    tracks = audio_s / track_s
    return (
        f"Re-running it costs about ${tracks * per_million / 1e6:,.2f} on the {lane} lane in {region} "
        f"(trackscan cost: ${per_million:,.2f} per million {track_s / 60:.0f}-minute tracks, its fixed base aside)."
    )


def _run_locally(deps: Deps, model: ModelInfo, limit: int, rate: float) -> backfiller.Pass:
    from trackscan.runtimes.local_runner import LocalRunner

    messages: list[UploadReceived] = []
    done = backfiller.backfill_pass(deps, model, limit, rate, messages.append, sleep=lambda _: None)
    runner = LocalRunner(deps.config, workers=1, on_finished=lambda _: None)
    chunk = max(1, int(rate))  # at most `rate` tracks started a second
    for start in range(0, len(messages), chunk):
        started = time.monotonic()
        runner.run(list(messages[start : start + chunk]))
        time.sleep(max(0.0, chunk / rate - (time.monotonic() - started)))
    return done
