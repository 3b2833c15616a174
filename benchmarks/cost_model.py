"""Dollars per million 4-minute tracks: per path, and the levers that move them (the report).

The model and its inputs are trackscan.costs (prices.toml, cost_inputs.toml beside it). A sweep
JSON of bench_triton_gpu.py replaces the assumed GPU throughput:

    python -m benchmarks.cost_model [--triton-json triton_gpu.json] [--gpu h100|l4]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from trackscan.costs.model import (
    HERE,
    LEVERS,
    MILLION,
    PATH_TITLES,
    PATHS,
    Inputs,
    compute_cost,
    gpu_node,
    gpu_throughput_from_sweep,
    load_inputs,
    load_prices,
    longest_step_s,
    operations_cost,
    per_million,
    track_ops,
    with_lever,
)


def _money(value: float) -> str:
    return f"${value:,.2f}"


def summary_table(inputs: Inputs, prices: dict[str, float]) -> list[str]:
    """One row per path: total, compute and operations, in dollars per million tracks."""
    rows = ["| path | $ per million 4-min tracks | compute | operations |", "|---|---|---|---|"]
    variants = [(p, inputs) for p in PATHS if p != "gpu"]
    variants[2:2] = [("gpu", replace(inputs, gpu="h100")), ("gpu", replace(inputs, gpu="l4"))]
    for path, variant in variants:
        compute = sum(v * MILLION for v in compute_cost(variant, prices, path).values())
        operations = sum(v * MILLION for v in operations_cost(variant, prices, path).values())
        title = PATH_TITLES[path]
        if path == "gpu":
            _, rate = gpu_node(prices, variant)
            title += f" ({variant.gpu.upper()} at {rate:,.0f} patches/s)"
        rows.append(f"| {title} | **{_money(compute + operations)}** | {_money(compute)} | {_money(operations)} |")
    return rows


def breakdown_table(inputs: Inputs, prices: dict[str, float]) -> list[str]:
    """Every cost item (rows) of every path (columns), dollars per million tracks."""
    columns = {path: per_million(inputs, prices, path) for path in PATHS}
    items = list(dict.fromkeys(item for costs in columns.values() for item in costs))
    rows = ["| item | " + " | ".join(PATHS) + " |", "|---" * (len(PATHS) + 1) + "|"]
    for item in items:
        rows.append(f"| {item} | " + " | ".join(_money(columns[p].get(item, 0.0)) for p in PATHS) + " |")
    return rows


def lever_table(inputs: Inputs, prices: dict[str, float]) -> list[str]:
    """Each lever moved alone (then together): operations per track and dollars per million."""
    rows = [
        "| lever | value | segments | messages | GCS A | GCS B | Firestore W / R | work blobs MB "
        "| longest CPU step s | " + " | ".join(PATHS) + " |",
        "|---" * (9 + len(PATHS)) + "|",
    ]
    for lever, value, change in LEVERS:
        variant = with_lever(inputs, change)
        ops = track_ops(variant)
        totals = [_money(sum(per_million(variant, prices, p).values())) for p in PATHS]
        rows.append(
            f"| {lever} | {value} | {ops.segments} | {ops.pubsub_messages} | {ops.gcs_class_a} "
            f"| {ops.gcs_class_b} | {ops.firestore_writes} / {ops.firestore_reads} "
            f"| {ops.work_bytes / 1e6:.2f} | {longest_step_s(variant):.1f} | " + " | ".join(totals) + " |"
        )
    return rows


def report(inputs: Inputs, prices: dict[str, float]) -> str:
    """The three tables as Markdown."""
    ops = track_ops(inputs)
    lines = [
        f"One {inputs.track_s:.0f} s track at {inputs.segment_s:.0f} s segments: {ops.segments} segments, "
        f"{ops.patches} patches, {ops.pubsub_messages} Pub/Sub messages, {ops.run_requests} Cloud Run requests, "
        f"{ops.firestore_writes} Firestore writes and {ops.firestore_reads} reads, {ops.gcs_class_a} GCS "
        f"Class A and {ops.gcs_class_b} Class B operations.",
        "",
        *summary_table(inputs, prices),
        "",
        *breakdown_table(inputs, prices),
        "",
        *lever_table(inputs, prices),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Prints the tables; --triton-json takes the GPU throughput from a sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prices", type=Path, default=HERE / "prices.toml")
    parser.add_argument("--inputs", type=Path, default=HERE / "cost_inputs.toml")
    parser.add_argument("--triton-json", type=Path, help="a bench_triton_gpu.py sweep run on the GPU priced")
    parser.add_argument("--gpu", choices=("h100", "l4"), default="h100", help="the node the sweep ran on")
    args = parser.parse_args(argv)
    inputs = replace(load_inputs(args.inputs), gpu=args.gpu)
    if args.triton_json:
        key = f"gpu_{args.gpu}_patches_per_s"
        inputs = with_lever(inputs, {key: gpu_throughput_from_sweep(args.triton_json)})
    print(report(inputs, load_prices(args.prices)), end="")


if __name__ == "__main__":
    main()
