"""Tokenizing text exactly like SQLite FTS5's ``unicode61`` tokenizer (DESIGN.md section 5).

The archive indexes stories with ``tokenize='unicode61 remove_diacritics 2'``; the rule matcher
must see the same tokens, so this module reproduces that tokenizer with SQLite's own character
data (``unicode61_table.py`` beside it, probed from SQLite by ``tools/gen_unicode61.py``), not with
Python's newer ``unicodedata``:

* a token starts at a token character: a letter, number or private-use character as SQLite's
  tables know them (code points unassigned in those tables count as token characters too);
* it runs on over token characters and over a few combining diacritics (in U+0300..U+0331),
  which continue a token but never start one; everything else separates tokens;
* each character is folded on its own: case-folded with SQLite's tables (which keep "ß" as it
  is) and stripped of diacritics ("É" -> "e"); those combining diacritics fold to nothing.

So "most-favored-nation" is the three tokens ``most favored nation`` and "U.S." is ``u s``.
(FTS5 truncates a token longer than 32,768 UTF-8 bytes when it indexes it; this module does
not. Lone surrogates, which SQLite cannot store, separate tokens.)
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from functools import partial
from itertools import accumulate, pairwise
from typing import NamedTuple, cast

from monitor.text.charscan import beyond_ascii
from monitor.text.unicode61_table import DIACRITIC_RANGES, FOLD, TOKEN_RANGES

__all__ = ["Token", "ascii_tokens", "fold", "token_spans", "tokenize"]


class Token(NamedTuple):
    """One token: its folded ``text``, its ``original`` form and where it is in the source.

    ``source[start:end] == original`` and ``fold(original) == text``. (A NamedTuple rather than
    a frozen dataclass: one is built for every word of every story, and a NamedTuple is several
    times cheaper to build.)
    """

    text: str
    original: str
    start: int
    end: int


_new_token = cast(
    "Callable[[tuple[str, str, int, int]], Token]", partial(tuple.__new__, Token)
)  # builds a Token from a tuple without the Python-level Token.__new__


def _merge(*tables: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(r for table in tables for r in table):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _bmp_separators(ranges: list[tuple[int, int]]) -> str:
    """A character class body for the BMP code points outside ``ranges`` (and surrogates)."""
    parts: list[str] = []
    nxt = 0
    for lo, hi in _merge(tuple(ranges), ((0xD800, 0xDFFF),)):
        if lo > 0xFFFF:
            break
        if lo > nxt:
            first, last = re.escape(chr(nxt)), re.escape(chr(lo - 1))
            parts.append(first if lo - 1 == nxt else f"{first}-{last}")
        nxt = hi + 1
    if nxt <= 0xFFFF:
        parts.append(f"{re.escape(chr(nxt))}-\uffff")
    return "".join(parts)


_TOKEN_CHAR_RANGES = _merge(TOKEN_RANGES)
if any(lo > 0xFFFF for lo, _ in DIACRITIC_RANGES):
    raise ImportError("monitor.text.tokens assumes that all diacritics are in the BMP")
# A token is a token character, then any token characters and diacritics. The classes are
# written as "not a separator", as there are far fewer separators (so compiling is quick), and
# cover the BMP only: the regex engine would test ranges beyond it one by one for every
# character. Text with characters beyond the BMP is matched with those replaced by stand-ins.
_TOKEN = re.compile(
    f"([^{_bmp_separators(_TOKEN_CHAR_RANGES)}]"
    f"[^{_bmp_separators(_merge(TOKEN_RANGES, DIACRITIC_RANGES))}]*)"
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_TOKEN_STARTS = [lo for lo, _ in _TOKEN_CHAR_RANGES]
_TOKEN_ENDS = [hi for _, hi in _TOKEN_CHAR_RANGES]
_TOKEN_STAND_IN = "\ue000"  # a private-use character: a token character
# Within ASCII, token characters are [A-Za-z0-9] and folding is str.lower() (the generator
# checks this against SQLite).
_ASCII_TOKEN = re.compile("([A-Za-z0-9]+)")
# A character beyond ASCII that is not a separator: a token character, a diacritic, a lone
# surrogate or a character beyond the BMP. Text without one has only ASCII tokens.
_NOT_ASCII_SEPARATOR = re.compile(
    f"[^\x00-\x7f{_bmp_separators(_merge(TOKEN_RANGES, DIACRITIC_RANGES))}]"
)
# For bytes.translate after lower(): a-z and 0-9 stay, every other byte becomes a blank.
_ASCII_BLANKS = bytes(c if c in b"abcdefghijklmnopqrstuvwxyz0123456789" else 32 for c in range(256))
# Folding, for str.translate: SQLite's non-ASCII folds plus A-Z -> a-z.
_FOLD_TABLE: dict[int, int | None] = {**FOLD, **{c: c + 32 for c in range(0x41, 0x5B)}}
_SEP = "\x00"  # not a token character, so it never occurs in a token


def fold(text: str) -> str:
    """Text with every character folded as FTS5 folds token characters ("Élysée" -> "elysee").

    Separator characters are left as they are (FTS5 never folds them).
    """
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD_TABLE)


def _stand_in(m: re.Match[str]) -> str:
    cp = ord(m.group())
    i = bisect_right(_TOKEN_STARTS, cp) - 1
    return _TOKEN_STAND_IN if i >= 0 and cp <= _TOKEN_ENDS[i] else " "


def _pieces(text: str) -> list[str]:
    """``text`` cut into separators and tokens: ``[separator, token, ..., token, separator]``."""
    if text.isascii():
        return _ASCII_TOKEN.split(text)
    if _ASTRAL.search(text) is None:
        return _TOKEN.split(text)
    # Characters beyond the BMP become one-character stand-ins of the same kind (diacritics
    # are all in the BMP), so the pieces of the stand-in text have the lengths of the real ones.
    stand_ins = _TOKEN.split(_ASTRAL.sub(_stand_in, text))
    return [text[s:e] for s, e in pairwise(accumulate(map(len, stand_ins), initial=0))]


def _fold_tokens(originals: list[str]) -> list[str]:
    if not originals:
        return []
    joined = _SEP.join(originals)
    if joined.isascii():  # the usual case: only punctuation was not ASCII
        return joined.lower().split(_SEP)
    return [t.lower() if t.isascii() else t.translate(_FOLD_TABLE) for t in originals]


def ascii_tokens(text: str) -> list[bytes] | None:
    """The folded tokens of ``text`` as ASCII bytes, or None when some token is not ASCII.

    The usual text is ASCII but for its punctuation (curly quotes, dashes, no-break spaces):
    every character beyond ASCII a separator. Those become "?" (another separator), so bytes
    methods in C cut and fold it: several times faster than a regex over the text.
    """
    if not text.isascii() and _NOT_ASCII_SEPARATOR.search(beyond_ascii(text)) is not None:
        return None
    return text.encode("ascii", "replace").lower().translate(_ASCII_BLANKS).split()


def tokenize(text: str) -> list[str]:
    """The folded tokens of ``text``, as FTS5 ``unicode61 remove_diacritics 2`` makes them."""
    if text.isascii() or _NOT_ASCII_SEPARATOR.search(beyond_ascii(text)) is None:
        blanked = text.encode("ascii", "replace").lower().translate(_ASCII_BLANKS)
        return blanked.decode("ascii").split()
    if _ASTRAL.search(text) is None:
        return _fold_tokens(_TOKEN.findall(text))
    return _fold_tokens(_pieces(text)[1::2])


def token_spans(text: str) -> list[Token]:
    """The tokens of ``text`` with their original form and ``[start, end)`` character offsets."""
    pieces = _pieces(text)
    originals = pieces[1::2]
    offsets = list(accumulate(map(len, pieces), initial=0))
    folded = _fold_tokens(originals)
    return list(
        map(_new_token, zip(folded, originals, offsets[1:-1:2], offsets[2::2], strict=True))
    )
