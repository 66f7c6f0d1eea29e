"""Finding characters of a set in text that is mostly ASCII, faster than a regex scan.

Feed text is mostly ASCII with a little typographic punctuation, and a character-class regex
spends several nanoseconds on every character. Bytes methods in C take the ASCII members of
the set and the characters beyond ASCII out of the UTF-8 encoding for a fraction of that, and
the regex then only looks at the few characters beyond ASCII.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ASCII = bytes(range(128))


@dataclass(frozen=True, slots=True)
class CharSet:
    """The characters that a one-character regex (a character class) matches."""

    regex: re.Pattern[str]
    not_ascii_members: bytes  # every byte but the set's ASCII members: bytes.translate deletes


def char_set(pattern: str) -> CharSet:
    regex = re.compile(pattern)
    members = {c for c in range(128) if regex.fullmatch(chr(c))}
    return CharSet(regex, bytes(c for c in range(256) if c not in members))


def beyond_ascii(text: str) -> str:
    """The characters of ``text`` beyond ASCII, in order (lone surrogates included)."""
    # Every byte of a multi-byte UTF-8 sequence is >= 0x80, so deleting the ASCII bytes
    # leaves whole characters.
    data = text.encode("utf-8", "surrogatepass")
    return data.translate(None, _ASCII).decode("utf-8", "surrogatepass")


def has_any(chars: CharSet, text: str) -> bool:
    """``chars.regex.search(text) is not None``."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, chars.not_ascii_members))
    data = text.encode("utf-8", "surrogatepass")
    if data.translate(None, chars.not_ascii_members):  # an ASCII member (bytes >= 0x80 go)
        return True
    rest = data.translate(None, _ASCII).decode("utf-8", "surrogatepass")
    return chars.regex.search(rest) is not None
