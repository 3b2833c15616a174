"""``trackscan cost``: what a month of tagging costs on each lane, everything included."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from trackscan.costs import lanes

DEFAULT_TRACKS_PER_MONTH = 10_000_000


@click.command()
@click.option("--region", type=click.Choice(lanes.regions()), help="Where it runs  [default: Terraform's region]")
@click.option(
    "--tracks-per-month",
    type=click.IntRange(min=1),
    default=DEFAULT_TRACKS_PER_MONTH,
    show_default=True,
    help="The volume the fixed base is spread over (--json).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: each lane at --tracks-per-month.")
def cost(region: str | None, tracks_per_month: int, as_json: bool) -> None:
    """Dollars per million 4-minute tracks on each lane Terraform deploys (trackscan.costs)."""
    if as_json:
        click.echo(json.dumps(lanes.report(region, tracks_per_month), indent=2))
        return
    priced, costs = lanes.lane_costs(region)
    table = Table(title=f"USD per million 4-minute tracks, {priced}, everything included")
    table.add_column("lane")
    for volume in lanes.VOLUMES:
        table.add_column(f"{volume / 1e6:g}M a month", justify="right")
    table.add_column("fixed a month", justify="right")
    table.add_column("per million, without the base", justify="right")
    for lane, lane_cost in costs.items():
        table.add_row(
            lane,
            *(f"${lane_cost.usd_per_million(volume):,.2f}" for volume in lanes.VOLUMES),
            f"${lane_cost.fixed_usd_per_month:,.2f}",
            f"${lane_cost.per_track_usd_per_million:,.2f}",
        )
    Console().print(table)
