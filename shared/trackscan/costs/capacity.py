"""The capacity plan: what each lane needs at a weekly volume's peak, and which limit bends first.

docs/capacity.md is this module's report (``python -m trackscan.costs.capacity``); a test fails
when the page differs from what the code computes. Per track, the figures are the cost model's:
the operations counted from the code and on the dev stack (trackscan.costs.lanes), the step times
and CPU seconds of cost_inputs.toml. A week's tracks arrive at a steady average times PEAK_FACTOR.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace

from trackscan.costs.lanes import lane_costs, load_lanes, workers_cpu_s
from trackscan.costs.model import PUBSUB_MIN_BYTES, Inputs, load_inputs, step_seconds, track_ops
from trackscan.domain.track_ids import INDEX_SHARDS
from trackscan.pipeline.steps import CLOUD_RUN_LANE, STEPS, WORKERS_LANE

WEEK_S = 7 * 24 * 3600
PEAK_FACTOR = 4.0
# The seed's case: 7M tracks a week; a tenth of it, and ten times it.
WEEKLY_VOLUMES = (1_000_000, 7_000_000, 70_000_000)
# Where the last source is "the code", the figure is the project's own.
FIRESTORE_SEQUENTIAL_INDEX_WRITES_S = 500.0
FIRESTORE_NEW_TRAFFIC_OPS_S = 500.0
GCS_BUCKET_WRITES_S = 1000.0
GCS_BUCKET_READS_S = 5000.0
PUBSUB_PUBLISH_BYTES_S = 200e6  # large regions; 50 MB/s in small ones
LIMITS = (
    (
        "Firestore writes of sequentially ordered index entries, per index range",
        f"{FIRESTORE_SEQUENTIAL_INDEX_WRITES_S:.0f}/s (sharded n ways: n x 500)",
        "https://cloud.google.com/firestore/docs/solutions/shard-timestamp",
    ),
    (
        "Firestore traffic new to a collection (the 500/50/5 rule)",
        f"start at {FIRESTORE_NEW_TRAFFIC_OPS_S:.0f} ops/s, then +50 % every 5 min",
        "https://cloud.google.com/firestore/docs/best-practices#ramping_up_traffic",
    ),
    (
        "Cloud Storage requests per bucket before it scales (doubling at most every 20 min)",
        f"{GCS_BUCKET_WRITES_S:.0f} writes/s, {GCS_BUCKET_READS_S:.0f} reads/s",
        "https://cloud.google.com/storage/docs/request-rate",
    ),
    (
        "Pub/Sub publish throughput per project and region",
        f"{PUBSUB_PUBLISH_BYTES_S / 1e6:.0f} MB/s in large regions (an older published figure)",
        "https://cloud.google.com/pubsub/quotas",
    ),
    (
        "Cloud Run instances of a service",
        "the region's CPU quota / CPU per instance (1 vCPU here)",
        "https://cloud.google.com/run/docs/configuring/max-instances-limits",
    ),
    (
        "Spot VMs' vCPUs (PREEMPTIBLE_CPUS), per region",
        "requested per project; may start at 0",
        "https://cloud.google.com/compute/docs/instances/create-use-spot",
    ),
    (
        "What Terraform deploys by default: worker_max_nodes, worker_max_pods, max_instances, gpu_max_nodes",
        'spend caps, which cap throughput too (rows "raise" below)',
        "terraform/environments/dev/variables.tf",
    ),
)


@dataclass(frozen=True)
class Peak:
    """One lane at the peak of one weekly volume."""

    lane: str
    tracks_per_week: int
    tracks_per_s: float
    compute: dict[str, int]  # what runs at once: instances, nodes, pods
    rates: dict[str, float]  # per second
    raise_caps: dict[str, int]  # Terraform variables whose defaults this peak needs raised, to what

    def bent(self) -> list[str]:
        """The limits this peak is over, each with what to do."""
        found = [f"raise {name} to {value:,}" for name, value in self.raise_caps.items()]
        if self.rates["busiest index range, writes"] > FIRESTORE_SEQUENTIAL_INDEX_WRITES_S:
            found.append("Firestore's ordered index ranges: more INDEX_SHARDS")
        if self.rates["Firestore writes"] > FIRESTORE_NEW_TRAFFIC_OPS_S:
            found.append("Firestore's 500/50/5 rule: bring new traffic up over minutes")
        if self.rates["GCS writes"] > GCS_BUCKET_WRITES_S or self.rates["GCS reads"] > GCS_BUCKET_READS_S:
            found.append("a bucket's first request rate: ramp up over an hour")
        return found


def peak(lane: str, tracks_per_week: int, inputs: Inputs | None = None) -> Peak:
    """What ``lane`` needs at the peak of ``tracks_per_week``."""
    inputs = inputs or load_inputs()
    deployment = load_lanes()["deployment"]
    tracks_s = tracks_per_week / WEEK_S * PEAK_FACTOR
    ops = lane_costs()[1][lane].ops_per_track
    chain = track_ops(replace(inputs, gpu="l4"))
    caps: dict[str, int] = {}
    if lane == CLOUD_RUN_LANE:
        seconds = step_seconds(replace(inputs, gpu="l4"), "gpu")
        concurrency = {step.name: step.deployment.concurrency for step in STEPS}
        compute = {
            f"Cloud Run instances ({step})": math.ceil(tracks_s * seconds[step] / concurrency[step]) for step in seconds
        }
        compute["GPU nodes (L4)"] = math.ceil(
            tracks_s * chain.patches / (inputs.gpu_l4_patches_per_s * inputs.pool_utilisation)
        )
        for step, cap in deployment["cloud_run_max_instances"].items():
            if compute[f"Cloud Run instances ({step})"] > cap:
                caps[f"max_instances.{step}"] = compute[f"Cloud Run instances ({step})"]
        if compute["GPU nodes (L4)"] > deployment["gpu_max_nodes"]:
            caps["gpu_max_nodes"] = compute["GPU nodes (L4)"]
        gcs_writes = 1 + 4 * chain.segments  # the upload; per segment two work blobs, later deleted
    else:
        vcpus = tracks_s * workers_cpu_s(inputs) / inputs.pool_utilisation
        node_vcpus = deployment["worker_vcpus"] - 1  # one for GKE's reservations and daemons
        compute = {"worker pods (ingest, 1 vCPU each)": math.ceil(vcpus), "worker nodes": math.ceil(vcpus / node_vcpus)}
        if compute["worker pods (ingest, 1 vCPU each)"] > deployment["worker_max_pods"]:
            caps["worker_max_pods"] = compute["worker pods (ingest, 1 vCPU each)"]
        if compute["worker nodes"] > deployment["worker_max_nodes"]:
            caps["worker_max_nodes"] = compute["worker nodes"]
        gcs_writes = 1  # the upload
    writes = ops["firestore_writes"] * tracks_s
    rates = {
        "Pub/Sub messages": ops["pubsub_messages"] * tracks_s,
        "Pub/Sub publish MB": ops["pubsub_messages"] * tracks_s * PUBSUB_MIN_BYTES / 1e6,
        "Firestore writes": writes,
        "Firestore reads": ops["firestore_reads"] * tracks_s,
        # One partner sending every track (a label's back catalogue): each of a record's writes
        # lands at the end of its (partner, updated_at) range, spread over INDEX_SHARDS ranges.
        "busiest index range, writes": writes / INDEX_SHARDS,
        "GCS writes": gcs_writes * tracks_s,
        "GCS reads": ops["gcs_class_b"] * tracks_s,
    }
    return Peak(lane, tracks_per_week, tracks_s, compute, rates, caps)


def held_by_defaults(lane: str) -> int:
    """The most tracks a week the lane takes at its peak with Terraform's default caps (to 1,000)."""
    low, high = 0, WEEKLY_VOLUMES[-1] * 10
    while high - low > 1000:
        middle = (low + high) // 2
        low, high = (middle, high) if not peak(lane, middle).raise_caps else (low, middle)
    return low


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def report() -> str:
    """docs/capacity.md's tables."""
    lines = [f"Peak: {PEAK_FACTOR:.0f} x the week's average rate. Per track: trackscan.costs (cost_inputs.toml).", ""]
    for lane in (WORKERS_LANE, CLOUD_RUN_LANE):
        peaks = [peak(lane, volume) for volume in WEEKLY_VOLUMES]
        lines += [f"### The {lane} lane", ""]
        lines.append("| at peak | " + " | ".join(f"{v / 1e6:g}M tracks/week" for v in WEEKLY_VOLUMES) + " |")
        lines.append("|---|" + "---:|" * len(peaks))
        lines.append("| tracks/s | " + " | ".join(_number(p.tracks_per_s) for p in peaks) + " |")
        for name in peaks[0].compute:
            lines.append(f"| {name} | " + " | ".join(_number(p.compute[name]) for p in peaks) + " |")
        for name in peaks[0].rates:
            lines.append(f"| {name}/s | " + " | ".join(_number(p.rates[name]) for p in peaks) + " |")
        lines.append("| over a limit | " + " | ".join("; ".join(p.bent()) or "none" for p in peaks) + " |")
        held = held_by_defaults(lane)
        lines += [
            "",
            f"With Terraform's default caps the {lane} lane takes up to {held // 1000 * 1000:,} tracks a week"
            " at its peak.",
            "",
        ]
    lines += ["### The limits", "", "| limit | value | source |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {source} |" for name, value, source in LIMITS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(report())
