"""The partner API at rising rates until it saturates, on the dev stack, with locust.

Starts a dev stack (the workers lane: no Triton, so the API keeps most of the machine), uploads a
few real tracks and waits until they are DONE, then offers the mix of
benchmarks/api_load/locustfile.py (status reads, lists, submits by URI, a steady stream of
uploads of real files) at each rate in --rates for --step-s seconds, one locust run per rate.
Per rate it prints the rate answered, p50/p95/p99 of every answer and of the 2xx alone, and the
answers by status; then it holds --soak-rate for --soak-s seconds, sampling the API's memory
(RSS of its gunicorn processes), and finally checks that every accepted submit and upload
became a track that reached DONE or FAILED.

The API is served as in the image (gunicorn's threaded worker behind the request guard) with
the dev stack's threads. The per-partner rate limit is off unless --keep-rate-limit: one dev
partner sends everything here, and the limit would answer 429 long before the server is busy.

    make bench-api    # or: python -m benchmarks.bench_api_load --rates 5,10,20,40,80,160 --step-s 40 --soak-s 600
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from trackscan.dev.layout import API_TARGET, DEV_PARTNER, FUNCTIONS, DevPorts, function_url
from trackscan.dev.stack import DevStack
from trackscan.domain.config import Config

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_SOURCE = REPO_ROOT / "functions" / "main.py"
LOCUSTFILE = REPO_ROOT / "benchmarks" / "api_load" / "locustfile.py"
# Short real tracks (10-30 s, 120-450 kB): uploads that the pipeline tags in about a second each.
SEED_TRACKS = (
    "drascula-music/track12.ogg",
    "wesnoth-1.16-music/defeat.ogg",
    "drascula-music/track17.ogg",
    "wesnoth-1.16-music/defeat2.ogg",
    "wesnoth-1.16-music/elf-land.ogg",
    "wesnoth-1.16-music/revelation.ogg",
)
FINAL_TIMEOUT_S = 600.0
P99_TARGET_MS = 300.0


def main() -> None:
    """Runs the load steps, the soak and the check, and prints the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, default=Path.home() / ".cache" / "trackscan" / "music")
    parser.add_argument("--rates", default="5,10,15,20,40,80,160", help="offered requests per second, one run each")
    parser.add_argument("--step-s", type=int, default=40)
    parser.add_argument("--soak-rate", type=int, default=0, help="0: the highest rate whose p99 held the target")
    parser.add_argument("--soak-s", type=int, default=600)
    parser.add_argument("--uploads-per-s", type=float, default=0.2)
    parser.add_argument("--locust", type=Path, default=REPO_ROOT / ".venv-load" / "bin" / "locust")
    parser.add_argument("--keep-rate-limit", action="store_true", help="leave the per-partner rate limit on")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    tracks = [args.music / name for name in SEED_TRACKS]
    if not args.keep_rate_limit:
        os.environ["TRACKSCAN_API_RATE_PER_S"] = "0"
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        figures = _run(args, tracks, Path(scratch))
    _print(figures)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


def _run(args: argparse.Namespace, tracks: list[Path], scratch: Path) -> dict[str, Any]:
    stack = DevStack(
        ports=DevPorts.free(),
        state_dir=scratch / "dev",
        functions_source=FUNCTIONS_SOURCE,
        with_triton=False,
        lane="workers",
    )
    with stack:
        api_url = function_url(stack.ports, API_TARGET)
        api_pid = next(child.pid for child in stack.children if child.name == API_TARGET)
        session = requests.Session()
        session.headers["X-API-Key"] = stack.api_key
        seeds = [_upload(session, api_url, track, f"seed/{track.name}") for track in tracks]
        _wait_final(session, api_url, seeds)
        bucket = Config.from_env().ingest_bucket_name
        env = {
            **os.environ,
            "LOAD_API_KEY": stack.api_key,
            "LOAD_TRACK_IDS": ",".join(seeds),
            "LOAD_SOURCE_URIS": ",".join(f"gs://{bucket}/{DEV_PARTNER}/seed/{t.name}" for t in tracks),
            "LOAD_UPLOAD_FILES": ",".join(str(t) for t in tracks),
            "LOAD_UPLOADS_PER_S": str(args.uploads_per_s),
        }
        steps = []
        accepted: set[str] = set()
        for rate in (int(r) for r in args.rates.split(",")):
            cpu_before = _cpu_s(api_pid)
            step = _locust(args.locust, api_url, env, rate, args.step_s, scratch / f"rate{rate}")
            answered = step["answered_per_s"] * args.step_s
            step["api_cpu_ms_per_answer"] = round(1000 * (_cpu_s(api_pid) - cpu_before) / max(answered, 1), 2)
            step["api_rss_mb"] = _rss_mb(api_pid)
            accepted.update(step.pop("accepted_track_ids"))
            steps.append(step)
            print(f"{rate}/s offered: {step['answered_per_s']:.1f}/s answered, p99 {step['all']['p99_ms']} ms")
        held = [s["offered_per_s"] for s in steps if s["all"]["p99_ms"] <= P99_TARGET_MS and not s["errors_5xx"]]
        soak_rate = args.soak_rate or max(held, default=steps[0]["offered_per_s"])
        soak = _soak(args.locust, api_url, env, soak_rate, args.soak_s, scratch / "soak", api_pid)
        accepted.update(soak.pop("accepted_track_ids"))
        unfinished = _wait_final(session, api_url, sorted(accepted), strict=False)
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "api_threads": next(spec.concurrency for spec in FUNCTIONS if spec.target == API_TARGET),
        "rate_limit": "on" if args.keep_rate_limit else "off",
        "steps": steps,
        "soak": soak,
        "accepted": len(accepted),
        "accepted_not_final": unfinished,
    }


def _upload(session: requests.Session, api_url: str, track: Path, name: str) -> str:
    with track.open("rb") as audio:
        answer = session.post(
            f"{api_url}/v1/tracks", params={"filename": name}, data=audio, headers={"Content-Type": "audio/ogg"}
        )
    answer.raise_for_status()
    return str(answer.json()["track_id"])


def _wait_final(session: requests.Session, api_url: str, track_ids: list[str], strict: bool = True) -> list[str]:
    """Polls each track until it is DONE or FAILED; the ids that were not by the timeout."""
    waiting, deadline = list(track_ids), time.monotonic() + FINAL_TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        answers = {track_id: session.get(f"{api_url}/v1/tracks/{track_id}") for track_id in waiting}
        waiting = [t for t, a in answers.items() if a.status_code != 200 or a.json()["state"] not in ("DONE", "FAILED")]
        if waiting:
            time.sleep(2.0)
    if waiting and strict:
        raise SystemExit(f"{len(waiting)} seed tracks were not final in {FINAL_TIMEOUT_S:.0f} s")
    return waiting


def _locust_argv(locust: Path, api_url: str, rate: int, seconds: int, prefix: Path) -> list[str]:
    """A headless locust run of ``rate`` readers (one request a second each) plus the uploader."""
    argv = [str(locust), "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--host", api_url]
    argv += ["-u", str(rate + 1), "-r", str(rate + 1), "-t", f"{seconds}s", "--csv", str(prefix)]
    return [*argv, "--stop-timeout", "10", "--loglevel", "WARNING"]


def _locust(locust: Path, api_url: str, env: dict[str, str], rate: int, seconds: int, prefix: Path) -> dict[str, Any]:
    """One locust run at ``rate``, and its figures."""
    tally = prefix.with_suffix(".tally.json")
    argv = _locust_argv(locust, api_url, rate, seconds, prefix)
    subprocess.run(argv, env={**env, "LOAD_TALLY": str(tally)}, check=False, capture_output=True)
    return _figures(rate, seconds, prefix, json.loads(tally.read_text()))


def _figures(rate: int, seconds: int, prefix: Path, tally: dict[str, Any]) -> dict[str, Any]:
    with Path(f"{prefix}_stats.csv").open(newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    total = rows["Aggregated"]
    statuses: dict[str, int] = {}
    for key, count in tally["statuses"].items():
        status = key.rsplit(" ", 1)[1]
        statuses[status] = statuses.get(status, 0) + count
    return {
        "offered_per_s": rate,
        "answered_per_s": int(total["Request Count"]) / seconds,
        "all": _percentiles(total),
        "routes": {name: _percentiles(row) for name, row in rows.items() if name != "Aggregated"},
        "statuses": dict(sorted(statuses.items())),
        "by_route": dict(sorted(tally["statuses"].items())),
        "errors_5xx": sum(n for s, n in statuses.items() if s.startswith("5") and s != "503"),
        "busy_without_retry_after": tally["busy_without_retry_after"],
        "accepted_track_ids": tally["accepted_track_ids"],
    }


def _percentiles(row: dict[str, str]) -> dict[str, float]:
    return {"p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]), "p99_ms": float(row["99%"])}


def _soak(
    locust: Path, api_url: str, env: dict[str, str], rate: int, seconds: int, prefix: Path, api_pid: int
) -> dict[str, Any]:
    """A long run at one rate, sampling the API's memory every 10 s."""
    tally = prefix.with_suffix(".tally.json")
    argv = _locust_argv(locust, api_url, rate, seconds, prefix)
    rss = [_rss_mb(api_pid)]
    with subprocess.Popen(
        argv, env={**env, "LOAD_TALLY": str(tally)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as run:
        while run.poll() is None:
            time.sleep(10.0)
            rss.append(_rss_mb(api_pid))
    figures = _figures(rate, seconds, prefix, json.loads(tally.read_text()))
    figures["rss_mb"] = {"start": rss[0], "after_1_min": rss[min(6, len(rss) - 1)], "end": rss[-1], "max": max(rss)}
    return figures


def _group(pid: int) -> list[int]:
    """A process and its children: gunicorn's master and its worker."""
    return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user and system) the API's processes have used so far."""
    ticks = 0
    for each in _group(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn's master and its worker), in MB."""
    total_kb = 0
    for each in _group(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return round(total_kb / 1024, 1)


def _print(figures: dict[str, Any]) -> None:
    print(f"\n{figures['machine']}; API threads {figures['api_threads']}; rate limit {figures['rate_limit']}\n")
    print("| offered /s | answered /s | p50 ms | p95 ms | p99 ms | answers by status | API CPU ms per answer |")
    print("|---|---|---|---|---|---|---|")
    for step in figures["steps"]:
        answers = ", ".join(f"{status}: {count}" for status, count in step["statuses"].items())
        all_ = step["all"]
        print(
            f"| {step['offered_per_s']} | {step['answered_per_s']:.1f} | {all_['p50_ms']:.0f} | {all_['p95_ms']:.0f} "
            f"| {all_['p99_ms']:.0f} | {answers} | {step['api_cpu_ms_per_answer']} |"
        )
    print("\n| route | " + " | ".join(f"p50/p99 ms at {step['offered_per_s']}/s" for step in figures["steps"]) + " |")
    print("|---|" + "---|" * len(figures["steps"]))
    for route in figures["steps"][0]["routes"]:
        cells = [step["routes"].get(route, {"p50_ms": 0, "p99_ms": 0}) for step in figures["steps"]]
        print(f"| {route} | " + " | ".join(f"{c['p50_ms']:.0f}/{c['p99_ms']:.0f}" for c in cells) + " |")
    soak = figures["soak"]
    answers = ", ".join(f"{status}: {count}" for status, count in soak["statuses"].items())
    print(f"\nsoak: {soak['offered_per_s']}/s offered, {soak['answered_per_s']:.1f}/s answered ({answers})")
    print(f"soak p50/p99 {soak['all']['p50_ms']:.0f}/{soak['all']['p99_ms']:.0f} ms; API RSS MB {soak['rss_mb']}")
    print(f"accepted submits and uploads: {figures['accepted']}, not final: {len(figures['accepted_not_final'])}")


if __name__ == "__main__":
    main()
