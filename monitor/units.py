"""Parsing of human-written durations and sizes ("15m", "10MB")."""

from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?", re.IGNORECASE)
_BYTES = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_duration(text: str) -> float:
    """Seconds in ``text`` such as "90s", "15m", "1h30m" or "2d"; ValueError otherwise."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts).lower() != compact.lower():
        raise ValueError(text)
    seconds = sum(float(n) * _SECONDS[u.lower()] for n, u in parts)
    if not math.isfinite(seconds):  # hundreds of digits overflow a float
        raise ValueError(text)
    return seconds


def parse_size(text: str) -> int:
    """Bytes in ``text`` such as "512KB" or "10MiB"; ValueError otherwise."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(text)
    size = float(m.group(1)) * _BYTES[(m.group(2) or "b").lower()]
    if not math.isfinite(size):
        raise ValueError(text)
    return int(size)


def format_duration(seconds: float) -> str:
    """A compact duration such as "500ms", "45s", "14m12s", "1h30m" or "2d6h": the two
    largest units, rounded to the second from one second up."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    left = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        parts.append((count, unit))
    first = next(i for i, (count, _) in enumerate(parts) if count)
    shown = [p for p in parts[first : first + 2] if p[0]]
    return "".join(f"{count}{unit}" for count, unit in shown)


def plural(count: int, word: str, words: str | None = None) -> str:
    """ "1 story", "2 stories", "0 feeds" (``words``: a plural the rule does not make)."""
    if count == 1:
        return f"1 {word}"
    if words is None:
        consonant_y = word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u")
        words = word[:-1] + "ies" if consonant_y else word + "s"
    return f"{count} {words}"
