"""What a month of tagging costs on each lane Terraform deploys, per region: `trackscan cost`.

Two lanes (Terraform's variable ``lane``):

- cloud-run: the segment chain on Cloud Run, the model on Triton on spot L4 nodes. Its per-track
  figures are trackscan.costs.model's "gpu" path (an L4 node), plus what that model leaves out:
  Cloud Logging and the patches' cross-zone bytes to Triton.
- workers: whole-track pull workers on a spot AMX pool with the model in process (bf16), no work
  blobs, no Triton, no GPU pool.

Cloud Storage operations are the ones counted on the dev stack (lanes.toml's [counted], held to
the code by tests/faults/test_worker_lane.py); the rest are read from the code. Each lane has a
fixed monthly base (the cluster fee, the system node, Triton's minimum of GPU nodes and its load
balancer, the workers' minimum pods, the inventory sweep's listings) spread over the month's
tracks, and a per-track part. Regional prices and the deployment figures are in lanes.toml
beside this module; tests/infra checks those against Terraform's defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from trackscan.costs.model import (
    HERE,
    MILLION,
    PATCH_S,
    PATCH_WIRE_BYTES,
    PREDICTION_BYTES,
    PUBSUB_MIN_BYTES,
    TIB,
    Inputs,
    load_inputs,
    load_prices,
    load_toml,
    per_million,
    track_ops,
)
from trackscan.costs.result_events import result_event_items, webhook_attempt_items
from trackscan.pipeline.steps import CLOUD_RUN_LANE, WORKERS_LANE

HOURS_PER_MONTH = 730
GIB = 1 << 30
VOLUMES = (1_000_000, 10_000_000, 100_000_000)
# Listing pages one sweep pass reads at most: its 3 s budget (TRACKSCAN_SWEEP_BUDGET_S) at about
# 0.2 s a page. A small bucket needs one.
SWEEP_PAGES_PER_PASS = 15


@dataclass(frozen=True)
class LaneCost:
    """One lane's month: the fixed base, the per-track part and the operations behind it."""

    fixed_items: dict[str, float]  # USD per month
    per_track_items: dict[str, float]  # USD per million tracks
    ops_per_track: dict[str, int]
    deployable: bool

    @property
    def fixed_usd_per_month(self) -> float:
        """The fixed base: paid whatever the volume."""
        return sum(self.fixed_items.values())

    @property
    def per_track_usd_per_million(self) -> float:
        """What each million tracks adds."""
        return sum(self.per_track_items.values())

    def usd_per_million(self, tracks_per_month: int) -> float:
        """Everything included, per million tracks, at this monthly volume."""
        return self.per_track_usd_per_million + self.fixed_usd_per_month * MILLION / tracks_per_month


def load_lanes() -> dict[str, Any]:
    """lanes.toml: deployment figures, regional and common prices, per-track figures."""
    return load_toml(HERE / "lanes.toml")


def regions() -> list[str]:
    """The regions the cost model has prices for."""
    return sorted(load_lanes()["regions"])


def _values(table: dict[str, Any]) -> dict[str, float]:
    return {name: float(entry["value"]) for name, entry in table.items()}


def lane_costs(region: str | None = None) -> tuple[str, dict[str, LaneCost]]:
    """The region priced (Terraform's default when None) and each lane's costs there.

    Raises:
        KeyError: the model has no prices for that region.
    """
    lanes = load_lanes()
    deployment = lanes["deployment"]
    region = region or deployment["default_region"]
    if region not in lanes["regions"]:
        raise KeyError(f"no prices for {region}; priced regions: {', '.join(sorted(lanes['regions']))}")
    prices_here = lanes["regions"][region]
    local = {**_values(lanes["common"]), **_values(lanes["per_track"])}
    machines = _values(prices_here["machine_hour"])
    firestore = _values(prices_here["firestore"])
    inputs = load_inputs()
    prices = {**load_prices(), "firestore_read": firestore["read"], "firestore_write": firestore["write"]}
    costs = {
        CLOUD_RUN_LANE: _cloud_run_lane(inputs, prices, local, machines, deployment),
        WORKERS_LANE: _workers_lane(inputs, prices, local, machines, deployment, region),
    }
    costs = {lane: _with_counted_storage(cost, lanes["counted"][lane], prices) for lane, cost in costs.items()}
    return region, costs


def _with_counted_storage(cost: LaneCost, counted: dict[str, int], prices: dict[str, float]) -> LaneCost:
    """The lane with its Cloud Storage operations as counted on the dev stack (lanes.toml)."""
    items = dict(cost.per_track_items)
    items["GCS Class A"] = counted["gcs_class_a"] * prices["gcs_class_a"] * MILLION
    items["GCS Class B"] = counted["gcs_class_b"] * prices["gcs_class_b"] * MILLION
    return replace(cost, per_track_items=items, ops_per_track={**cost.ops_per_track, **counted})


def _shared_fixed(local: dict[str, float], machines: dict[str, float], deployment: dict[str, Any]) -> dict[str, float]:
    regional = deployment["regional_cluster"]
    cluster_fee = local["gke_cluster_hour"] * HOURS_PER_MONTH
    if not regional:
        cluster_fee = max(0.0, cluster_fee - local["gke_zonal_free_per_month"])
    system = deployment["system_machine"]
    spot = deployment["system_spot"]
    sweep_listings = deployment["reconcile_passes_per_month"] * SWEEP_PAGES_PER_PASS
    fee = "GKE cluster fee " + ("(regional: no free credit)" if regional else "(zonal: the free tier's credit)")
    return {
        fee: cluster_fee,
        f"system node ({system}, {'spot' if spot else 'on-demand'})": deployment["system_nodes"]
        * machines[f"{system} spot" if spot else system]
        * HOURS_PER_MONTH,
        "inventory sweep listings (Class A)": sweep_listings * load_prices()["gcs_class_a"],
    }


def _cloud_run_lane(
    inputs: Inputs,
    prices: dict[str, float],
    local: dict[str, float],
    machines: dict[str, float],
    deployment: dict[str, Any],
) -> LaneCost:
    l4 = replace(inputs, gpu="l4")
    # The gpu path's GPU node at this region's price: one node-hour at the model's throughput.
    gpu_node_hour = machines[deployment["gpu_machine"]]
    gpu_prices = {**prices, "spot_g2_standard_4_hour": gpu_node_hour, "spot_l4_gpu_hour": 0.0}
    items = per_million(l4, gpu_prices, "gpu")
    ops = track_ops(l4)
    # "step finished" per request, "predictions written" per segment. Cloud Run's request log
    # entries of successful pushes are excluded (terraform/modules/monitoring): not billed.
    lines = ops.run_requests + ops.segments
    items["Cloud Logging"] = lines * local["log_bytes_per_line"] / GIB * local["logging_gib"] * MILLION
    triton_bytes = ops.patches * (PATCH_WIRE_BYTES + PREDICTION_BYTES) * local["cross_zone_share"]
    items["cross-zone bytes to Triton"] = triton_bytes / GIB * local["inter_zone_gib"] * MILLION
    items.update(result_event_items(prices))
    fixed = {
        **_shared_fixed(local, machines, deployment),
        f"Triton's minimum of {deployment['triton_min_replicas']} spot GPU nodes": deployment["triton_min_replicas"]
        * gpu_node_hour
        * HOURS_PER_MONTH,
        "Triton's internal load balancer (forwarding rule)": local["forwarding_rule_hour"] * HOURS_PER_MONTH,
        **webhook_attempt_items(deployment, prices),
    }
    counted = {
        "gcs_class_a": ops.gcs_class_a,
        "gcs_class_b": ops.gcs_class_b,
        "firestore_reads": ops.firestore_reads,
        "firestore_writes": ops.firestore_writes,
        "pubsub_messages": ops.pubsub_messages,
        "run_requests": ops.run_requests,
        "log_lines": lines,
    }
    return LaneCost(fixed, items, counted, deployable=True)


def workers_ops() -> dict[str, int]:
    """Operations of one track tagged whole by a warm worker, read from ingest and the adapters.

    Cloud Storage (counted on the dev stack, lanes.toml, which replaces these): the partner's
    upload (A); the content hash's metadata get, the source's metadata get and its one whole read
    (B). Firestore: the record's create (a write), the dedupe query (one read, as an empty query
    is billed), the DONE transaction (a read and a write). Pub/Sub: the upload notification. One
    "step finished" log line.
    """
    return {
        "gcs_class_a": 1,
        "gcs_class_b": 3,
        "firestore_reads": 2,
        "firestore_writes": 2,
        "pubsub_messages": 1,
        "run_requests": 0,
        "log_lines": 1,
    }


def workers_cpu_s(inputs: Inputs) -> float:
    """Seconds of one vCPU a worker spends on a track tagged whole: the front end and the bf16 model."""
    audio_min = inputs.track_s / 60.0
    return (
        audio_min * inputs.front_end_cpu_s_per_audio_min + audio_min * 60.0 / PATCH_S * inputs.amx_bf16_vcpu_s_per_patch
    )


def _workers_lane(
    inputs: Inputs,
    prices: dict[str, float],
    local: dict[str, float],
    machines: dict[str, float],
    deployment: dict[str, Any],
    region: str,
) -> LaneCost:
    ops = workers_ops()
    cpu_s = workers_cpu_s(inputs)
    worker_hour = machines[deployment["worker_machine"].get(region, "c3-standard-4")]
    vcpu_second = worker_hour / deployment["worker_vcpus"] / 3600
    items = {
        "worker vCPU time (front end, bf16 model), over utilisation": cpu_s
        * vcpu_second
        / inputs.pool_utilisation
        * MILLION,
        # Published once and delivered once, each at least 1,000 bytes.
        "Pub/Sub": 2 * ops["pubsub_messages"] * PUBSUB_MIN_BYTES / TIB * prices["pubsub_tib"] * MILLION,
        "Firestore writes": ops["firestore_writes"] * prices["firestore_write"] * MILLION,
        "Firestore reads": ops["firestore_reads"] * prices["firestore_read"] * MILLION,
        "GCS Class A": ops["gcs_class_a"] * prices["gcs_class_a"] * MILLION,
        "GCS Class B": ops["gcs_class_b"] * prices["gcs_class_b"] * MILLION,
        "Cloud Logging": ops["log_lines"] * local["log_bytes_per_line"] / GIB * local["logging_gib"] * MILLION,
        **result_event_items(prices),
    }
    pods = deployment["worker_min_pods"]
    # Less a vCPU's worth of each node for GKE's reservations and daemons.
    nodes = math.ceil(deployment["worker_min_vcpus"] / (deployment["worker_vcpus"] - 1))
    fixed = {
        **_shared_fixed(local, machines, deployment),
        f"workers' minimum ({pods} pods on {nodes} spot nodes)": nodes * worker_hour * HOURS_PER_MONTH,
        **webhook_attempt_items(deployment, prices),
    }
    return LaneCost(fixed, items, dict(ops), deployable=True)


def report(region: str | None, tracks_per_month: int) -> dict[str, Any]:
    """`trackscan cost --json`: each lane at this volume, everything included."""
    priced, costs = lane_costs(region)
    return {
        "region": priced,
        "tracks_per_month": tracks_per_month,
        "lanes": {
            lane: {
                "usd_per_million": round(cost.usd_per_million(tracks_per_month), 2),
                "fixed_usd_per_month": round(cost.fixed_usd_per_month, 2),
                "per_track_usd_per_million": round(cost.per_track_usd_per_million, 2),
                "ops_per_track": cost.ops_per_track,
                "deployable": cost.deployable,
                "fixed_items": {k: round(v, 2) for k, v in cost.fixed_items.items()},
                "per_track_items": {k: round(v, 2) for k, v in cost.per_track_items.items()},
            }
            for lane, cost in costs.items()
        },
    }
