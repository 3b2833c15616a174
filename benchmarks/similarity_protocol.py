"""Which vector finds tracks of the same source: a protocol over many sources, not one corpus.

The sources are the Debian packages of game and demo music that `scripts/fetch_music.sh
--similarity` fetches (nine, each a game with a sound of its own). "The neighbour comes from the
same package" is the label-free check of benchmarks/bench_similarity.py; here it is measured on
every pair of sources (a small catalogue of two styles: 36 pools for nine sources) and on all
sources at once, and a candidate is judged by its mean over the pairs, their spread and its worst
pair, so a vector tuned to one corpus shows up as a wide spread.

Candidates are built from what a result keeps: the 100 tag scores and the mean 200-dimensional
embedding. Some need a statistic of a catalogue: "the pool" is the catalogue searched (what a
partner's running mean would converge to), "the other sources" a fixed reference corpus that
holds none of the pool's tracks (what a mean frozen per model would be).

    python -m benchmarks.similarity_protocol --music "$(scripts/fetch_music.sh --similarity)"
"""

from __future__ import annotations

import argparse
import itertools
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.bench_similarity import hits_at_k, load_tagged, tag_packages, track_result
from trackscan.domain.similarity import search_vector

# scripts/fetch_music.sh's SIMILARITY_PACKAGES: the packages with music trackscan decodes.
SIMILARITY_PACKAGES = (
    "drascula-music",
    "hyperrogue-music",
    "nexuiz-music",
    "planetblupi-music-ogg",
    "singularity-music",
    "torus-trooper-data",
    "ufoai-music",
    "warzone2100-music",
    "wesnoth-1.16-music",
)
EMBEDDING_ONLY = "embedding less its own mean (the search vector until 2026-12-07)"
COMBINED = "embedding less its own mean + tag logits less their own mean (**the search vector**)"
LOGIT_EPSILON = 1e-4  # sigmoid outputs of exactly 0 or 1 would map to infinity


@dataclass(frozen=True)
class Pool:
    """The tracks searched together, and the reference tracks outside them."""

    tags: np.ndarray  # [N, 100] sigmoid scores
    embeddings: np.ndarray  # [N, 200]
    reference_embeddings: np.ndarray  # [M, 200]: tracks of the sources not in the pool


def _own_centred(matrix: np.ndarray) -> np.ndarray:
    return matrix - matrix.mean(axis=1, keepdims=True)


def _logit(tags: np.ndarray) -> np.ndarray:
    clipped = np.clip(tags, LOGIT_EPSILON, 1 - LOGIT_EPSILON)
    return np.log(clipped / (1 - clipped))


def _standardised(matrix: np.ndarray) -> np.ndarray:
    return (matrix - matrix.mean(axis=0)) / (matrix.std(axis=0) + 1e-9)


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


CANDIDATES: dict[str, Callable[[Pool], np.ndarray]] = {
    "tag scores, raw": lambda p: p.tags,
    "tag scores, logit": lambda p: _logit(p.tags),
    "tag scores, logit less its own mean": lambda p: _own_centred(_logit(p.tags)),
    "tag scores, standardised on the pool": lambda p: _standardised(p.tags),
    "tag logits, standardised on the pool": lambda p: _standardised(_logit(p.tags)),
    "embedding, raw": lambda p: p.embeddings,
    EMBEDDING_ONLY: lambda p: _own_centred(p.embeddings),
    "embedding less the pool's mean": lambda p: p.embeddings - p.embeddings.mean(axis=0),
    "embedding less the other sources' mean": lambda p: p.embeddings - p.reference_embeddings.mean(axis=0),
    "embedding, standardised on the pool": lambda p: _standardised(p.embeddings),
    COMBINED: lambda p: np.hstack([_unit(_own_centred(p.embeddings)), _unit(_own_centred(_logit(p.tags)))]),
    "embedding less the other sources' mean + tag logits less their own mean": lambda p: np.hstack(
        [_unit(p.embeddings - p.reference_embeddings.mean(axis=0)), _unit(_own_centred(_logit(p.tags)))]
    ),
}


@dataclass(frozen=True)
class Scores:
    """One candidate's precision@5: per pair of sources, and over all sources at once."""

    pairs: dict[tuple[str, str], float]
    all_sources: float
    per_source: dict[str, float]  # within the all-sources pool


def random_precision(labels: np.ndarray) -> float:
    """The expected precision@5 of a random ranking: each neighbour is of the query's source by chance."""
    same = np.array([(labels == label).sum() - 1 for label in labels])
    return float((same / (len(labels) - 1)).mean())


def score(build: Callable[[Pool], np.ndarray], labels: np.ndarray, tags: np.ndarray, embeddings: np.ndarray) -> Scores:
    """Precision@5 of one candidate on every pair of sources and on all of them."""

    def pool_hits(inside: np.ndarray) -> np.ndarray:
        pool = Pool(tags[inside], embeddings[inside], embeddings[~inside] if (~inside).any() else embeddings)
        return hits_at_k(build(pool), labels[inside])

    sources = sorted(set(labels))
    pairs = {pair: float(pool_hits(np.isin(labels, pair)).mean()) for pair in itertools.combinations(sources, 2)}
    everything = np.ones(len(labels), dtype=bool)
    # With every source in the pool there is no outside reference: that candidate then uses the
    # pool itself, which the table says.
    hits = pool_hits(everything)
    return Scores(pairs, float(hits.mean()), {s: float(hits[labels == s].mean()) for s in sources})


def _check_is_the_search_vector(
    build: Callable[[Pool], np.ndarray], lines: list[dict], tags: np.ndarray, embeddings: np.ndarray
) -> None:
    """Fails unless the candidate ranks as trackscan.domain.similarity.search_vector does: same cosines."""
    shipped = np.array([search_vector(track_result(line)) for line in lines])
    candidate = _unit(build(Pool(tags, embeddings, embeddings)))
    difference = np.abs(shipped @ shipped.T - candidate @ candidate.T).max()
    if difference > 1e-6:
        raise AssertionError(f"the search vector's cosines differ from the candidate's by {difference:.2g}")


def _against(scores: Scores, peer: Scores, pairs: list[tuple[str, str]]) -> str:
    higher = sum(scores.pairs[pair] > peer.pairs[pair] for pair in pairs)
    lower = sum(scores.pairs[pair] < peer.pairs[pair] for pair in pairs)
    return f"{higher} ({lower})"


def protocol_table(folder: Path) -> list[str]:
    """The markdown table: every candidate, ranked by its mean precision@5 over the pairs."""
    labels, tags, embeddings, lines = load_tagged(folder, SIMILARITY_PACKAGES)
    _check_is_the_search_vector(CANDIDATES[COMBINED], lines, tags, embeddings)
    sources = sorted(set(labels))
    pairs = list(itertools.combinations(sources, 2))
    random_pairs = [random_precision(labels[np.isin(labels, pair)]) for pair in pairs]
    results = {name: score(build, labels, tags, embeddings) for name, build in CANDIDATES.items()}
    tag_cosine, embedding_only = results["tag scores, raw"], results[EMBEDDING_ONLY]
    counts = ", ".join(f"{s} {(labels == s).sum()}" for s in sources)
    out = [
        f"{len(labels)} tracks of {len(sources)} sources ({counts}); precision@5 of the same source.",
        f"Pairs: {len(pairs)} pools of two sources each; against a peer: the pairs where a candidate is"
        " higher (lower).",
        "",
        "| vector | pairs: mean | std | worst pair | against tag cosine | against the embedding less its mean |"
        " all sources at once |",
        "|---|---|---|---|---|---|---|",
        f"| random ranking (expectation) | {np.mean(random_pairs):.3f} | {np.std(random_pairs):.3f} | "
        f"{min(random_pairs):.3f} | - | - | {random_precision(labels):.3f} |",
    ]
    ranked = sorted(results.items(), key=lambda item: -np.mean(list(item[1].pairs.values())))
    for name, scores in ranked:
        values = np.array([scores.pairs[pair] for pair in pairs])
        out.append(
            f"| {name} | {values.mean():.3f} | {values.std():.3f} | {values.min():.3f} | "
            f"{_against(scores, tag_cosine, pairs)} | {_against(scores, embedding_only, pairs)} | "
            f"{scores.all_sources:.3f} |"
        )
    shown = {name: results[name] for name in (EMBEDDING_ONLY, COMBINED, "tag scores, raw")}
    out += [
        "",
        "Per source, all sources at once:",
        "",
        "| source | tracks | " + " | ".join(shown) + " |",
        "|---|---|" + "---|" * len(shown),
    ]
    for source in sources:
        cells = " | ".join(f"{scores.per_source[source]:.3f}" for scores in shown.values())
        out.append(f"| {source} | {(labels == source).sum()} | {cells} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--music", type=Path, help="scripts/fetch_music.sh --similarity's folder: tag what is not cached"
    )
    parser.add_argument("--tagged", type=Path, default=Path(".trackscan/similarity"), help="<package>.jsonl folder")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}")
    if args.music:
        tag_packages(args.music, args.tagged, SIMILARITY_PACKAGES)
    print("\n".join(protocol_table(args.tagged)))


if __name__ == "__main__":
    main()
