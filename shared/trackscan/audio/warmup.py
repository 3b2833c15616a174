"""Pays the feature code's one-time costs before the first real step.

Those are the numba compilation of the K-weighting loop in loudness.py (about 1 s) and the
filter banks. A Cloud Run instance that paid them inside a step would eat a tenth of the 10 s
step budget. With NUMBA_CACHE_DIR set at image build time, the compiled code ships in the image
and this takes well under a second.
"""

from __future__ import annotations

import numpy as np

from trackscan.audio.descriptors import segment_descriptors
from trackscan.audio.front_end import SAMPLE_RATE, patches_from_audio


def warm_up() -> None:
    """Runs the feature code once on two seconds of quiet noise."""
    noise = np.random.default_rng(0).uniform(-0.01, 0.01, 2 * SAMPLE_RATE).astype(np.float32)
    segment_descriptors(noise[None, :], SAMPLE_RATE, noise)
    patches_from_audio(noise)
