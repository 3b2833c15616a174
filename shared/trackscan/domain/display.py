r"""Names from data, made safe to show: no control character reaches a terminal or a page.

A partner chooses its object names, and GCS lets them hold ESC, CR, LF, NUL, tab and
bidirectional overrides. Shown raw, ESC sequences recolour, clear or rewrite a support
engineer's terminal and U+202E reverses what follows. ``shown`` escapes each such character
visibly (``\x1b``, ``\u202e``) and a backslash as ``\\``, so the text stays unambiguous:
``unshown`` turns it back into the name, for looking a track up by what was shown.
"""

from __future__ import annotations

import re
import unicodedata

from trackscan.domain.file_uris import path_of

# Bidirectional formatting characters (Unicode's Bidi_Control property).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Categories escaped: controls (C0, DEL, C1), lone surrogates, line and paragraph separators.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _escaped(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char in BIDI_CONTROLS or unicodedata.category(char) in ESCAPED_CATEGORIES:
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def shown(text: str) -> str:
    """The text with every control, bidi and separator character (and backslash) escaped visibly."""
    return "".join(map(_escaped, text))


def unshown(text: str) -> str:
    """The text ``shown`` was given: its escapes turned back into characters."""
    return _ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), text)


def object_name(source_uri: str, partner: str) -> str:
    """The whole object name under the partner's folder (not only the text after the last '/').

    gs://bucket/acme/album/01.wav is album/01.wav; a file:// URI is its decoded path.
    """
    if source_uri.startswith("file://"):
        return str(path_of(source_uri))
    _, _, path = source_uri.partition("://")
    _, _, name = path.partition("/")  # the bucket aside
    return name[len(partner) + 1 :] if name.startswith(f"{partner}/") else name
