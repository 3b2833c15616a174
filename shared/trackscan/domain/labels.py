"""Tag names of the two musicnn taggers, in the order of the model's score outputs.

MTT_TAGS label the "mtt_scores" output (MTT_musicnn, trained on MagnaTagATune: instruments,
vocals, moods); MSD_TAGS label "msd_scores" (MSD_musicnn, trained on the Million Song Dataset:
genres, eras, moods). The names and their order are musicnn 0.1.0's (configuration.py), spelling
and case included; inference/build_model.py records the same lists in the ONNX model's metadata,
and tests/unit/test_labels.py checks that the two agree.
"""

from __future__ import annotations

MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings",
    "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth",
    "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic",
    "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip

MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic",
    "female vocalists", "dance", "00s", "alternative rock", "jazz",
    "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s",
    "folk", "90s", "chill", "instrumental", "punk",
    "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s",
    "party", "country", "easy listening", "sexy", "catchy",
    "funk", "electro", "heavy metal", "Progressive rock", "60s",
    "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip
