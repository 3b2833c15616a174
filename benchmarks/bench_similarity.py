"""Similarity search: how well it finds tracks of the same source, and how fast the local index answers.

Quality. The real-music corpora (scripts/fetch_music.sh) are three Debian packages of game music
with a sound each: wesnoth-1.16-music (orchestral), drascula-music (adventure game) and
torus-trooper-data (techno). With no labels to hand, "the neighbour comes from the same package"
is a fair check: precision@5 is the share of each track's five nearest tracks that come from its
own package, averaged over every track. Candidates: a random ranking (its expectation, exact),
cosine of the 100 tag scores, of the raw mean embedding, of the search vector the stores use
(trackscan.domain.similarity.search_vector), of the embedding less its own mean (the earlier search
vector), and of the embedding centred on a reference mean (computed on the evaluation set itself,
and without each package in turn). 95% intervals bootstrap the queries. The search vector is also
run through SqliteTrackStore.nearest, the code path of the API. benchmarks/similarity_protocol.py
measures the same candidates and more across nine sources: the vector is chosen there.

The tags come from `trackscan run --json` per package, run by this script when --music is given
and cached as <tagged>/<package>.jsonl (minutes per package; later runs reuse the cache).

Latency. SqliteTrackStore.nearest on 10 000 and 100 000 synthetic unit vectors (one partner
holding them all, the worst case for the partner filter), interleaved: warm queries (the matrix
cached) and cold ones (a fresh store object loads the matrix from SQLite first).

    python -m benchmarks.bench_similarity --music ~/.cache/trackscan/music [--tagged .trackscan/similarity]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.adapters.vector_index import write_vector
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.similarity import SEARCH_DIMENSIONS, search_vector
from trackscan.domain.tracks import TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.similar import similar_tracks

K = 5
PACKAGES = ("drascula-music", "torus-trooper-data", "wesnoth-1.16-music")


def load_tagged(
    folder: Path, packages: Sequence[str] = PACKAGES
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """(labels, tag matrix [N, 100], embedding matrix [N, 200], the JSON lines) of every DONE track."""
    lines = []
    for path in sorted(folder / f"{package}.jsonl" for package in packages):
        for text in path.read_text().splitlines():
            line = json.loads(text)
            if line["state"] == "DONE":
                lines.append({**line, "corpus": path.stem})
    labels = np.array([line["corpus"] for line in lines])
    tags = np.array([[*line["tags"]["mtt"].values(), *line["tags"]["msd"].values()] for line in lines])
    embeddings = np.array([line["embedding"] for line in lines])
    return labels, tags, embeddings, lines


def tag_packages(music: Path, tagged: Path, packages: Sequence[str] = PACKAGES) -> None:
    """Tags each package with the embedded default unless its JSON lines are cached."""
    tagged.mkdir(parents=True, exist_ok=True)
    for package in packages:
        target = tagged / f"{package}.jsonl"
        if target.is_file() and target.stat().st_size:
            continue
        env = {**os.environ, "TRACKSCAN_HOME": str(tagged / "home")}
        with target.with_suffix(".partial").open("w") as out:
            subprocess.run(
                [sys.executable, "-m", "trackscan.cli", "run", "--json", str(music / package)],
                stdout=out,
                env=env,
                check=False,
            )
        target.with_suffix(".partial").rename(target)


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def hits_at_k(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each track, the share of its K nearest (cosine, itself left out) from its own corpus."""
    unit = _unit(vectors)
    scores = unit @ unit.T
    np.fill_diagonal(scores, -np.inf)
    nearest = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return (labels[nearest] == labels[:, None]).mean(axis=1)


def bootstrap(values: np.ndarray, rounds: int = 2000) -> tuple[float, float]:
    """A 95% interval of the mean, resampling the queries."""
    rng = np.random.default_rng(0)
    means = rng.choice(values, size=(rounds, len(values))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def quality(folder: Path) -> list[str]:
    """The precision@5 table."""
    labels, tags, embeddings, lines = load_tagged(folder)
    corpora = sorted(set(labels))
    random_hits = np.array([((labels == label).sum() - 1) / (len(labels) - 1) for label in labels])
    search = np.array([search_vector(track_result(line)) for line in lines])
    rows = [
        ("random ranking (expectation)", random_hits),
        ("tag scores (100), cosine", hits_at_k(tags, labels)),
        ("mean embedding (200), raw, cosine", hits_at_k(embeddings, labels)),
        ("**search vector**: embedding and tag logits, each less its own mean", hits_at_k(search, labels)),
        (
            "embedding less its own mean (the search vector until 2026-12-07)",
            hits_at_k(embeddings - embeddings.mean(1, keepdims=True), labels),
        ),
        ("embedding less the evaluation set's mean (in-sample)", hits_at_k(embeddings - embeddings.mean(0), labels)),
    ]
    for corpus in corpora:
        reference = embeddings[labels != corpus].mean(0)
        rows.append(
            (f"embedding less the mean of the other packages than {corpus}", hits_at_k(embeddings - reference, labels))
        )
    store_hits = _through_store(lines, labels)
    rows.insert(4, ("search vector through SqliteTrackStore.nearest", store_hits))
    counts = ", ".join(f"{c}: {(labels == c).sum()}" for c in corpora)
    out = [
        f"{len(labels)} tracks ({counts}); precision@{K} of the same package, 95% bootstrap interval.",
        "",
        "| vector | precision@5 | 95% interval | " + " | ".join(corpora) + " |",
        "|---|---|---|" + "---|" * len(corpora),
    ]
    for name, hits in rows:
        low, high = bootstrap(hits)
        per_corpus = " | ".join(f"{hits[labels == c].mean():.3f}" for c in corpora)
        out.append(f"| {name} | {hits.mean():.3f} | {low:.3f}-{high:.3f} | {per_corpus} |")
    return out


def track_result(line: dict) -> TrackResult:
    """The TrackResult of one `trackscan run --json` line."""
    return TrackResult(
        line["tags"],
        line["top_tags"],
        line["tempo_bpm"],
        line["key"],
        line["loudness_lufs"],
        line["duration_s"],
        line["embedding"],
    )


def _through_store(lines: list[dict], labels: np.ndarray) -> np.ndarray:
    """The hits of the API's own path: each track's K neighbours from SqliteTrackStore.nearest."""
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteTrackStore(str(Path(folder) / "state.sqlite"))
        corpus_of = {}
        for line, label in zip(lines, labels, strict=True):
            record = store.create_if_absent(new_record(f"file:///{label}/{line['track_id']}", "1", "p", "ingest"))
            store.apply(
                record.track_id,
                Transition(
                    TrackState.DONE, "finalize", result=track_result(line), model=ModelInfo("musicnn", "0" * 64)
                ),
            )
            corpus_of[record.track_id] = label
        hits = []
        for track_id, label in corpus_of.items():
            record = store.get(track_id)
            assert record is not None
            found = similar_tracks(store, record, K)
            hits.append(np.mean([corpus_of[n.record.track_id] == label for n in found]))
        return np.array(hits)


def synthetic_store(folder: Path, size: int) -> str:
    """A database of ``size`` DONE tracks of one partner with random unit search vectors, written in bulk."""
    path = folder / f"vectors-{size}.sqlite"
    SqliteTrackStore(str(path)).count(None, TrackState.DONE)  # creates the schema
    rng = np.random.default_rng(size)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for index in range(size):
        record = new_record(f"gs://ingest/bench/{index:06d}.ogg", "1", "bench", "ingest")
        row = (record.track_id, record.source_uri, "bench", "DONE", record.updated_at, json.dumps(record.to_dict()))
        db.execute("INSERT INTO tracks VALUES (?, ?, ?, ?, ?, ?)", row)
        vector = rng.normal(size=SEARCH_DIMENSIONS)
        write_vector(db, record.track_id, "bench", list(vector / np.linalg.norm(vector)))
    db.execute("COMMIT")
    db.close()
    return str(path)


def latency(sizes: list[int], rounds: int, cold_rounds: int) -> list[str]:
    """Warm and cold query times per size, interleaved across sizes."""
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        paths = {size: synthetic_store(Path(folder), size) for size in sizes}
        warm: dict[int, list[float]] = {size: [] for size in sizes}
        cold: dict[int, list[float]] = {size: [] for size in sizes}
        stores = {size: SqliteTrackStore(paths[size]) for size in sizes}
        for _ in range(cold_rounds):
            for size in sizes:
                query = list(rng.normal(size=SEARCH_DIMENSIONS))
                started = time.perf_counter()
                SqliteTrackStore(paths[size]).nearest("bench", query, 10)
                cold[size].append(time.perf_counter() - started)
        for size in sizes:
            stores[size].nearest("bench", list(rng.normal(size=SEARCH_DIMENSIONS)), 10)  # load the cache
        for _ in range(rounds):
            for size in sizes:
                query = list(rng.normal(size=SEARCH_DIMENSIONS))
                started = time.perf_counter()
                found = stores[size].nearest("bench", query, 10)
                warm[size].append(time.perf_counter() - started)
                assert len(found) == 10
    out = [
        "| stored vectors | warm query, median (p10-p90) | cold query (loads the matrix), median (min-max) | "
        "matrix in memory |",
        "|---|---|---|---|",
    ]
    for size in sizes:
        w, c = np.array(warm[size]) * 1000, np.array(cold[size]) * 1000
        mib = size * SEARCH_DIMENSIONS * 4 / 2**20
        out.append(
            f"| {size:,} | {np.median(w):.1f} ms ({np.percentile(w, 10):.1f}-{np.percentile(w, 90):.1f}) | "
            f"{np.median(c):.0f} ms ({c.min():.0f}-{c.max():.0f}) | {mib:.0f} MiB |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--music", type=Path, help="the fetched music (scripts/fetch_music.sh): tag what is not cached")
    parser.add_argument(
        "--tagged",
        type=Path,
        default=Path(".trackscan/similarity"),
        help="folder of <package>.jsonl from `trackscan run --json`",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--cold-rounds", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
        f"numpy {np.__version__}; {statistics.__name__} over interleaved rounds"
    )
    if args.music:
        tag_packages(args.music, args.tagged)
    if any(args.tagged.glob("*.jsonl")):
        print("\n".join(["", "## Quality", "", *quality(args.tagged)]))
    print(
        "\n".join(
            [
                "",
                "## Latency (SqliteTrackStore.nearest, limit 10)",
                "",
                *latency(args.sizes, args.rounds, args.cold_rounds),
            ]
        )
    )


if __name__ == "__main__":
    main()
