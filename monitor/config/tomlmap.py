"""Where each key of a TOML document is written, so config errors can say FILE:LINE:COL.

tomllib gives values without positions. ``key_positions`` scans the text once for its
structure only (tables, keys, arrays, inline tables; values are skipped, not decoded) and
maps every key path, e.g. ``("feeds", 3, "interval")`` for ``interval`` in the fourth
``[[feeds]]`` table, to the line and column where that key is written. Headers, dotted
keys, quoted keys, inline tables and arrays (of tables too) are understood. The scan is
best effort: it never raises, and whatever it could not place is simply missing, so
``locate`` falls back to the nearest enclosing table it knows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

Path = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line and column

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)|\s*\(at end of document\)")


def parse_key(key: str) -> Path:
    """``"feeds[3].interval"`` -> ``("feeds", 3, "interval")``; a name in quotes is one part."""
    path: list[str | int] = []
    for part in key.split(".") if key else ():
        m = _KEY_PART.fullmatch(part)
        if m is None:
            path.append(part)
            continue
        path.append(m.group(1))
        path.extend(int(i) for i in re.findall(r"\d+", m.group(2)))
    return tuple(path)


def locate(positions: Mapping[Path, Position], key: str) -> Position | None:
    """Where ``key`` is written; else its nearest enclosing table or array; else None."""
    path = parse_key(key)
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return None


def decode_error_position(message: str, text: str) -> tuple[Position | None, str]:
    """The position tomllib names in a TOMLDecodeError message, and the message without it."""
    m = _TOML_POSITION.search(message)
    reason = _TOML_POSITION.sub("", message).strip()
    if m is None:
        return None, reason
    if m.group(1):
        return (int(m.group(1)), int(m.group(2))), reason
    lines = text.split("\n")
    return (len(lines), len(lines[-1]) + 1), reason


def key_positions(text: str) -> dict[Path, Position]:
    scanner = _Scanner(text)
    # Not TOML after all: keep what was found before the trouble.
    with contextlib.suppress(IndexError, ValueError):
        scanner.document()
    return scanner.positions


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.positions: dict[Path, Position] = {}
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self._arrays: dict[Path, int] = {}  # [[tables]] seen so far, by their path

    # -- positions ---------------------------------------------------------------------------

    def _position(self, offset: int) -> Position:
        lo, hi = 0, len(self._line_starts)
        while hi - lo > 1:  # the last line start at or before offset
            mid = (lo + hi) // 2
            if self._line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo + 1, offset - self._line_starts[lo] + 1

    def _mark(self, path: Path, offset: int) -> None:
        # Every enclosing table is known from its first mention on (dotted keys, headers).
        position = self._position(offset)
        for end in range(1, len(path) + 1):
            self.positions.setdefault(path[:end], position)

    # -- reading -----------------------------------------------------------------------------

    def _peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def _blank(self, *, newlines: bool) -> None:
        """Skip spaces and tabs, comments, and (with ``newlines``) line ends."""
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                return

    def document(self) -> None:
        table: Path = ()
        while True:
            self._blank(newlines=True)
            if self.i >= len(self.text):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._keyval(table)
            # Whatever is left on the line (nothing, in valid TOML).
            end = self.text.find("\n", self.i)
            self.i = len(self.text) if end < 0 else end

    def _header(self) -> Path:
        start = self.i
        array = self._peek(2) == "[["
        self.i += 2 if array else 1
        parts = self._key()
        self._blank(newlines=False)
        self.i += 2 if array else 1
        path: Path = ()
        for n, part in enumerate(parts):
            path = (*path, part)
            last = n == len(parts) - 1
            if array and last:
                index = self._arrays.get(path, 0)
                self._arrays[path] = index + 1
                path = (*path, index)
            elif path in self._arrays:  # [fruit.info] after [[fruit]]: the latest fruit
                path = (*path, self._arrays[path] - 1)
        self._mark(path, start)
        return path

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._blank(newlines=False)
            parts.append(self._simple_key())
            self._blank(newlines=False)
            if self._peek() != ".":
                return parts
            self.i += 1

    def _simple_key(self) -> str:
        c = self._peek()
        if c in "\"'":
            start = self.i
            self._string()
            raw = self.text[start + 1 : self.i - 1]
            return raw.replace('\\"', '"').replace("\\\\", "\\") if c == '"' else raw
        m = _BARE.match(self.text, self.i)
        if m is None:
            raise ValueError(self.i)
        self.i = m.end()
        return m.group()

    def _keyval(self, table: Path) -> None:
        start = self.i
        path = (*table, *self._key())
        self._mark(path, start)
        self._blank(newlines=False)
        if self._peek() != "=":
            raise ValueError(self.i)
        self.i += 1
        self._blank(newlines=False)
        self._value(path)

    def _value(self, path: Path) -> None:
        c = self._peek()
        if c in "\"'":
            self._string()
        elif c == "[":
            self._array(path)
        elif c == "{":
            self._inline_table(path)
        else:  # a number, date, boolean: up to the next delimiter
            while self.i < len(self.text) and self.text[self.i] not in " \t\r\n,]}#":
                self.i += 1

    def _string(self) -> None:
        text = self.text
        quote = text[self.i]
        if text.startswith(quote * 3, self.i):
            end = self.i + 3
            while True:
                end = text.index(quote * 3, end)
                if quote == '"' and _escaped(text, end):
                    end += 1
                    continue
                break
            # Up to two more quotes may end the value: """a""""" is 'a""'.
            extra = 0
            while extra < 2 and text.startswith(quote, end + 3):
                end += 1
                extra += 1
            self.i = end + 3
            return
        end = self.i + 1
        while True:
            end = text.index(quote, end)
            if quote == '"' and _escaped(text, end):
                end += 1
                continue
            break
        self.i = end + 1

    def _array(self, path: Path) -> None:
        self.i += 1
        index = 0
        while True:
            self._blank(newlines=True)
            if self._peek() == "]":
                self.i += 1
                return
            if self._peek() == ",":
                self.i += 1
                continue
            if not self._peek():
                raise IndexError(self.i)
            self._mark((*path, index), self.i)
            self._value((*path, index))
            index += 1

    def _inline_table(self, path: Path) -> None:
        self.i += 1
        while True:
            self._blank(newlines=True)
            c = self._peek()
            if c == "}":
                self.i += 1
                return
            if c == ",":
                self.i += 1
                continue
            if not c:
                raise IndexError(self.i)
            self._keyval(path)


def _escaped(text: str, at: int) -> bool:
    """Whether the character at ``at`` is escaped by an odd run of backslashes."""
    n = 0
    while at - n - 1 >= 0 and text[at - n - 1] == "\\":
        n += 1
    return n % 2 == 1
