"""Tokenizing text the way SQLite FTS5's ``unicode61`` tokenizer does (DESIGN.md section 5).

A token is a maximal run of Unicode letters and digits, case-folded, with diacritics
removed: "most-favored-nation" is three tokens and "U.S." is two.
"""

from __future__ import annotations

import re
import unicodedata

_TOKEN = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Case-folded text with diacritics removed ("Élysée" -> "elysee")."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))
