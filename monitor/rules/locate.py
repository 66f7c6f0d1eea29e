"""Finding where in a rule file a value was written, so errors can say FILE:LINE:COL.

tomllib gives values without positions. These helpers find the line of a key
inside the N-th ``[[topic]]`` table (or inside ``[aliases]``) and decode the TOML
string written there, recording for each character of the value the offset in
the file it came from, so an error at character k of a query points into the file.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

_HEADER = re.compile(r"^[ \t]*\[(\[)?[ \t]*([^\]]+?)[ \t]*\]", re.MULTILINE)
# A key at the start of a line: bare, "basic" or 'literal' (as written), then "=".
_KEY = re.compile(
    r"""^[ \t]*(?:([A-Za-z0-9_-]+)|"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)')[ \t]*=[ \t]*""",
    re.MULTILINE,
)
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


@dataclass(frozen=True, slots=True)
class _FileIndex:
    """Where a file's lines and tables start, found in one pass over it.

    Every topic of a file asks for its table and a line: rescanning the file each
    time made compiling quadratic in the topics per file (8,000 topics in one file:
    144 s; with the index, 1.2 s).
    """

    line_starts: list[int]  # offset of the first character of each line
    # (name, N) -> span of the N-th [[name]] table; (name, None) -> of the first [name]
    tables: dict[tuple[str, int | None], tuple[int, int]]
    # span -> the keys written in it and where their values start, made when first asked:
    # an [aliases] table of thousands of keys, each with an error, is scanned once.
    keys: dict[tuple[int, int], dict[str, int]]
    top: tuple[int, int]  # the keys before the first table header

    @classmethod
    def of(cls, text: str) -> _FileIndex:
        line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        headers = list(_HEADER.finditer(text))
        tables: dict[tuple[str, int | None], tuple[int, int]] = {}
        arrays: dict[str, int] = {}  # [[name]] tables seen so far, by name
        for i, header in enumerate(headers):
            name = header.group(2).strip().strip("\"'")
            index: int | None = None
            if header.group(1) is not None:
                index = arrays.get(name, 0)
                arrays[name] = index + 1
            end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
            tables.setdefault((name, index), (header.start(), end))
        top = (0, headers[0].start() if headers else len(text))
        return cls(line_starts, tables, {}, top)

    def keys_in(self, text: str, span: tuple[int, int]) -> dict[str, int]:
        found = self.keys.get(span)
        if found is None:
            found = {}
            for m in _KEY.finditer(text, span[0], span[1]):
                found.setdefault(next(g for g in m.groups() if g is not None), m.end())
            self.keys[span] = found
        return found


@lru_cache(maxsize=4)  # the file being compiled; a str caches its hash, so a hit is cheap
def _index(text: str) -> _FileIndex:
    return _FileIndex.of(text)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    starts = _index(text).line_starts
    line = bisect_right(starts, offset)  # lines starting at or before offset
    return line, offset - starts[line - 1] + 1


def top_level_span(text: str) -> tuple[int, int]:
    """Start and end offsets of the keys written before any table header."""
    return _index(text).top


def table_span(text: str, name: str, index: int | None) -> tuple[int, int] | None:
    """Start and end offsets of the ``index``-th ``[[name]]`` table, or of ``[name]``."""
    return _index(text).tables.get((name, index))


def key_start(text: str, span: tuple[int, int], key: str) -> int | None:
    """Offset where ``key`` itself is written within a table's span."""
    value = key_offset(text, span, key)
    if value is None:
        return None
    line_start = text.rfind("\n", 0, value) + 1
    return line_start + len(text[line_start:value]) - len(text[line_start:value].lstrip())


def key_offset(text: str, span: tuple[int, int], key: str) -> int | None:
    """Offset of the value assigned to ``key`` within a table's span."""
    found = _index(text).keys_in(text, span).get(key)
    if found is not None:
        return found
    # Not in the index (a dotted key, say): looked for on its own.
    pattern = re.compile(
        rf"^[ \t]*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')[ \t]*=[ \t]*",
        re.MULTILINE,
    )
    m = pattern.search(text, span[0], span[1])
    return m.end() if m else None


def string_offsets(text: str, start: int) -> list[int] | None:
    """For the TOML string literal at ``start``: the file offset of each value character.

    The list has one extra entry, the offset just past the value, for errors at its end.
    None when no string literal starts there.
    """
    for quote in ('"""', "'''", '"', "'"):
        if text.startswith(quote, start):
            break
    else:
        return None
    multiline = len(quote) == 3
    literal = quote[0] == "'"
    i = start + len(quote)
    if multiline and text.startswith("\n", i):
        i += 1
    elif multiline and text.startswith("\r\n", i):
        i += 2
    offsets: list[int] = []
    while i < len(text):
        if text.startswith(quote, i):
            offsets.append(i)
            return offsets
        c = text[i]
        if c == "\n" and not multiline:
            break
        if c == "\\" and not literal:
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPES:
                offsets.append(i)
                i += 2
                continue
            if nxt in ("u", "U"):
                width = 4 if nxt == "u" else 8
                offsets.append(i)
                i += 2 + width
                continue
            if multiline and nxt in (" ", "\t", "\n", "\r"):
                # Line-ending backslash: skip all whitespace including newlines.
                i += 1
                while i < len(text) and text[i] in " \t\r\n":
                    i += 1
                continue
        offsets.append(i)
        i += 1
    offsets.append(i)
    return offsets


def value_position(
    text: str, table: str, index: int | None, key: str, char: int | None = None
) -> tuple[int, int]:
    """Line and column of character ``char`` of the string value of ``key``, best effort.

    With ``char`` None, the start of the value itself (its opening quote). Falls
    back to the key's line, then to the table's header, then to line 1.
    """
    span = table_span(text, table, index)
    if span is None:
        return 1, 1
    value = key_offset(text, span, key)
    if value is None:
        return line_col(text, span[0])
    offsets = string_offsets(text, value)
    if not offsets or char is None:
        return line_col(text, value)
    return line_col(text, offsets[min(max(char, 0), len(offsets) - 1)])


def item_position(text: str, table: str, index: int | None, key: str, item: int) -> tuple[int, int]:
    """Line and column of the ``item``-th string of the array value of ``key``, best effort.

    A single string written in place of the array is item 0. Falls back like
    ``value_position``.
    """
    span = table_span(text, table, index)
    if span is None:
        return 1, 1
    value = key_offset(text, span, key)
    if value is None:
        return line_col(text, span[0])
    if not text.startswith("[", value):
        return line_col(text, value)
    i, n = value + 1, 0
    while i < len(text):
        if text[i] in " \t\r\n,":
            i += 1
            continue
        if text[i] == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        offsets = string_offsets(text, i)
        if offsets is None:  # the end of the array, or something unexpected
            break
        if n == item:
            return line_col(text, i)
        i = offsets[-1] + (3 if text.startswith(('"""', "'''"), i) else 1)
        n += 1
    return line_col(text, value)
