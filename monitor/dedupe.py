"""Near-duplicate detection for wire copy carried under different URLs.

Each story gets a bottom-k sketch: the k smallest hashes of its word 3-gram
shingles. Two sketches estimate the Jaccard similarity of the shingle sets
(Broder 1997); the archive indexes the few smallest hashes so that candidates
are found with an index lookup rather than a scan.
"""

from __future__ import annotations

import hashlib
import heapq
import zlib
from collections.abc import Sequence

SKETCH_SIZE = 32
INDEXED_HASHES = 6  # the smallest hashes, looked up to find candidates
SHINGLE = 3
MIN_SHINGLES = 20  # shorter texts only match exactly
THRESHOLD = 0.8


def sketch(tokens: Sequence[str]) -> tuple[int, ...]:
    """The bottom-k shingle hashes of a token sequence, ascending; () if too short."""
    if len(tokens) < SHINGLE + MIN_SHINGLES - 1:
        return ()
    hashes = {
        zlib.crc32(" ".join(tokens[i : i + SHINGLE]).encode())
        for i in range(len(tokens) - SHINGLE + 1)
    }
    return tuple(heapq.nsmallest(SKETCH_SIZE, hashes))


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two sketches."""
    if not a or not b:
        return 0.0
    union = heapq.nsmallest(SKETCH_SIZE, set(a) | set(b))
    shared = set(a) & set(b)
    return sum(1 for h in union if h in shared) / len(union)


def text_hash(tokens: Sequence[str]) -> str:
    """Identity of a text up to case, punctuation and spacing."""
    return hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]


def is_near_duplicate(a: Sequence[int], b: Sequence[int]) -> bool:
    return similarity(a, b) >= THRESHOLD
