"""The musicnn reference implementation tagging files, for the end-to-end comparison.

Runs with the benchmark-only venv (`make bench-musicnn-venv`: musicnn 0.1.0 on TensorFlow CPU),
never with trackscan's: it imports nothing of trackscan. For each file it runs musicnn's own
extractor with both networks trackscan runs (MTT_musicnn and MSD_musicnn, each call loading
the audio with librosa and building its TensorFlow graph, as the reference does) and asks for
the features too, so the embedding is computed as trackscan's is. No descriptors: the
reference has none, so this is a lower bound on what the same job would cost with it.

    .venv-musicnn/bin/python benchmarks/musicnn_reference.py FILE...
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # musicnn builds tf.compat.v1.layers graphs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    from musicnn.extractor import extractor

    for path in sys.argv[1:]:
        for model in ("MTT_musicnn", "MSD_musicnn"):
            extractor(path, model=model, extract_features=True)


if __name__ == "__main__":
    main()
