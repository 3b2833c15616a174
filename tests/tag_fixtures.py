"""A full set of the model's 100 tag scores, as every real result has: the search vector needs them."""

from __future__ import annotations

from trackscan.domain.labels import MSD_TAGS, MTT_TAGS


def tag_scores() -> dict[str, dict[str, float]]:
    """Fixed, varied scores for every tag, the same on each call: tracks that share them are told
    apart by their embeddings alone, as the tests of the search expect."""
    return {
        "mtt": {tag: (index * 37 % 97 + 1) / 99 for index, tag in enumerate(MTT_TAGS)},
        "msd": {tag: (index * 53 % 89 + 1) / 91 for index, tag in enumerate(MSD_TAGS)},
    }
