"""Key names as musicians write them: "Bb major" and "Eb minor", not "A# major" and "D# minor".

A key's tonic is spelled as its key signature spells it, the fewer accidentals winning (Db major
has 5 flats, C# major 7 sharps); F# major and C# and G# minor by common use. Names stay ASCII
("b" and "#"), as JSON consumers expect. Results written before this spelling say "A# major":
``respelled`` reads both, so every stored key comes out spelled the same way.
"""

from __future__ import annotations

MAJOR_TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
MODES = ("major", "minor")
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "b": -1, "♯": 1, "♭": -1}


def key_name(tonic: int, mode: str) -> str:
    """The name of the key on pitch class ``tonic`` (0 = C) in ``mode``, e.g. "Bb major"."""
    tonics = MAJOR_TONICS if mode == "major" else MINOR_TONICS
    return f"{tonics[tonic % 12]} {mode}"


def parse_key(name: str) -> tuple[int, str]:
    """(pitch class, mode) of a key name in any spelling: "A# major", "Bb major", "B♭ major".

    Raises:
        ValueError: not a key name.
    """
    tonic, _, mode = name.partition(" ")
    natural, accidental = tonic[:1], tonic[1:]
    if natural not in _NATURALS or accidental not in _ACCIDENTALS or mode not in MODES:
        raise ValueError(f"not a key name: {name!r}")
    return (_NATURALS[natural] + _ACCIDENTALS[accidental]) % 12, mode


def respelled(name: str | None) -> str | None:
    """The conventional spelling of a key name (None stays None)."""
    return None if name is None else key_name(*parse_key(name))
