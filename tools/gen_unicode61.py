"""Generate ``monitor/text/unicode61_table.py`` by probing SQLite's FTS5 ``unicode61`` tokenizer.

SQLite carries its own (older) Unicode tables, so they are not derived from Python's
``unicodedata``: every code point except the surrogates is fed to FTS5 and the tokens it produces
are read back through an ``fts5vocab`` table of type ``instance``.

The tokenizer is a two-state machine (outside / inside a token) that folds each character on its
own, so three facts per code point describe it completely, and each is probed separately:

* column ``alone`` holds the character by itself. It yields one token exactly when the character
  can *start* a token (category L*, N* or Co);
* column ``inner`` holds ``"x" + c + "x"``. It yields the single token ``"x" + fold(c) + "x"``
  exactly when the character can *continue* a token (a token character, or one of the combining
  diacritics that SQLite lets continue a token but never start one), and otherwise the two
  tokens ``x`` and ``x``;
* the text between the two ``x`` is the character's folded form (possibly empty).

Usage: ``python tools/gen_unicode61.py [OUTPUT]`` (default: ``monitor/text/unicode61_table.py``
under this script's repository root). Needs a Python whose ``sqlite3`` has FTS5.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

TOKENIZE = "unicode61 remove_diacritics 2"
MAX_CODE_POINT = 0x10FFFF
SURROGATES = range(0xD800, 0xE000)
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "monitor" / "text" / "unicode61_table.py"


def code_points() -> Iterator[int]:
    for cp in range(MAX_CODE_POINT + 1):
        if cp not in SURROGATES:
            yield cp


def probe() -> tuple[str, dict[int, list[str]], dict[int, list[str]]]:
    """Tokens FTS5 produces for each code point alone and between two ``x``."""
    conn = sqlite3.connect(":memory:")
    version = conn.execute("SELECT sqlite_version()").fetchone()[0]
    conn.execute(f"CREATE VIRTUAL TABLE probe USING fts5(alone, inner, tokenize={TOKENIZE!r})")
    conn.execute("CREATE VIRTUAL TABLE vocab USING fts5vocab(probe, instance)")
    with conn:
        conn.executemany(
            "INSERT INTO probe(rowid, alone, inner) VALUES (?, ?, ?)",
            ((cp, chr(cp), f"x{chr(cp)}x") for cp in code_points()),
        )
    alone: dict[int, list[tuple[int, str]]] = {}
    inner: dict[int, list[tuple[int, str]]] = {}
    for doc, col, offset, term in conn.execute("SELECT doc, col, offset, term FROM vocab"):
        target = alone if col == "alone" else inner
        target.setdefault(doc, []).append((offset, term))
    conn.close()

    def in_order(found: dict[int, list[tuple[int, str]]]) -> dict[int, list[str]]:
        result = {}
        for doc, hits in found.items():
            hits.sort()
            offsets = [offset for offset, _ in hits]
            if offsets != list(range(len(hits))):
                raise AssertionError(f"U+{doc:04X}: token positions {offsets} are not 0..n-1")
            result[doc] = [term for _, term in hits]
        return result

    return version, in_order(alone), in_order(inner)


def ranges(points: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted inclusive ``(first, last)`` ranges covering ``points``."""
    result: list[tuple[int, int]] = []
    for cp in sorted(points):
        if result and result[-1][1] + 1 == cp:
            result[-1] = (result[-1][0], cp)
        else:
            result.append((cp, cp))
    return result


def derive(
    alone: dict[int, list[str]], inner: dict[int, list[str]]
) -> tuple[set[int], set[int], dict[int, int | None]]:
    """Token-start characters, continue-only characters and non-trivial folds."""
    start: set[int] = set()
    cont_only: set[int] = set()
    fold: dict[int, int | None] = {}
    for cp in code_points():
        c = chr(cp)
        inner_tokens = inner.get(cp, [])
        alone_tokens = alone.get(cp, [])
        if inner_tokens == ["x", "x"]:
            if alone_tokens:
                raise AssertionError(f"U+{cp:04X} starts a token but cannot continue one")
            continue
        if len(inner_tokens) != 1 or not (
            inner_tokens[0].startswith("x") and inner_tokens[0].endswith("x")
        ):
            raise AssertionError(f"U+{cp:04X}: unexpected tokens {inner_tokens!r} for 'x{c}x'")
        folded = inner_tokens[0][1:-1]
        if len(folded) > 1:
            raise AssertionError(f"U+{cp:04X} folds to more than one character: {folded!r}")
        if alone_tokens == [folded]:
            start.add(cp)
        elif alone_tokens == []:
            cont_only.add(cp)
        else:
            raise AssertionError(f"U+{cp:04X}: tokens {alone_tokens!r} alone, {folded!r} inside")
        if folded != c:
            fold[cp] = ord(folded) if folded else None
    return start, cont_only, fold


def check_ascii(start: set[int], cont_only: set[int], fold: dict[int, int | None]) -> None:
    """The ASCII fast path in monitor/text/tokens.py assumes [A-Za-z0-9] and str.lower()."""
    alnum = {ord(c) for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    ascii_start = {cp for cp in start if cp < 0x80}
    ascii_fold = {cp: f for cp, f in fold.items() if cp < 0x80}
    if ascii_start != alnum or any(cp < 0x80 for cp in cont_only):
        raise AssertionError("ASCII token characters are not exactly [A-Za-z0-9]")
    if ascii_fold != {cp: cp + 32 for cp in range(ord("A"), ord("Z") + 1)}:
        raise AssertionError("ASCII folding is not exactly A-Z -> a-z")
    if any(f is not None and f < 0x80 and not chr(f).isalnum() for f in fold.values()):
        raise AssertionError("a character folds to an ASCII separator")


def format_ranges(name: str, comment: str, items: list[tuple[int, int]]) -> list[str]:
    lines = [f"# {comment}", f"{name}: tuple[tuple[int, int], ...] = ("]
    cells = [f"(0x{lo:X}, 0x{hi:X})," for lo, hi in items]
    lines.extend(wrap(cells))
    lines.append(")")
    return lines


def format_fold(fold: dict[int, int | None]) -> list[str]:
    lines = [
        "# Non-ASCII token characters whose folded form differs from themselves: code point ->",
        "# folded code point, or None when the character is dropped from the token.",
        "FOLD: dict[int, int | None] = {",
    ]
    cells = [f"0x{cp:X}: {'None' if f is None else f'0x{f:X}'}," for cp, f in sorted(fold.items())]
    lines.extend(wrap(cells))
    lines.append("}")
    return lines


def wrap(cells: list[str], width: int = 99) -> list[str]:
    lines: list[str] = []
    line = "   "
    for cell in cells:
        if len(line) + 1 + len(cell) > width:
            lines.append(line)
            line = "   "
        line += " " + cell
    if line.strip():
        lines.append(line)
    return lines


def render(version: str, start: set[int], cont_only: set[int], fold: dict[int, int | None]) -> str:
    non_ascii_fold = {cp: f for cp, f in fold.items() if cp >= 0x80}
    lines = [
        f"# Generated by tools/gen_unicode61.py from SQLite {version}: FTS5 tokenizer",
        f'# {TOKENIZE!r}, default categories "L* N* Co". Do not edit: rerun the script.',
        "# fmt: off",
        '"""SQLite FTS5 ``unicode61`` character data, as probed from SQLite itself."""',
        "",
        f'SQLITE_VERSION = "{version}"',
        "",
        *format_ranges(
            "TOKEN_RANGES",
            "Inclusive ranges of code points that start (and continue) a token.",
            ranges(start),
        ),
        "",
        *format_ranges(
            "DIACRITIC_RANGES",
            "Inclusive ranges of code points that continue a token but never start one.",
            ranges(cont_only),
        ),
        "",
        *format_fold(non_ascii_fold),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    version, alone, inner = probe()
    start, cont_only, fold = derive(alone, inner)
    check_ascii(start, cont_only, fold)
    output.write_text(render(version, start, cont_only, fold), encoding="utf-8")
    print(
        f"SQLite {version}: {len(start)} token characters in {len(ranges(start))} ranges, "
        f"{len(cont_only)} continue-only characters, {len(fold)} folds -> {output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
