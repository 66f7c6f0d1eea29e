"""Fingerprints of a story's text, for finding wire copy carried under different URLs.

Each text gets a bottom-k sketch: the k smallest hashes of its word 3-gram shingles. Two
sketches estimate the Jaccard similarity of the shingle sets (Broder 1997); the archive
indexes the few smallest hashes so that candidates are found with an index lookup rather
than a scan. A leaf module: the parse workers import it without the dedupe policy.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from operator import gt

from monitor.text.tokens import ascii_tokens, tokenize

SKETCH_SIZE = 32
INDEXED_HASHES = 6  # the smallest hashes, looked up to find candidates
SHINGLE = 3
MIN_SHINGLES = 20  # shorter texts only match exactly
THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What dedupe knows a text by."""

    sketch: tuple[int, ...]  # () when too short to have one
    text_hash: str
    words: int  # tokens


def fingerprint(headline: str, paragraphs: Sequence[str]) -> Fingerprint:
    """The fingerprint of a story's text: its headline and paragraphs, as one."""
    text = " ".join([headline, *paragraphs])
    words = ascii_tokens(text)
    if words is None:
        tokens = tokenize(text)
        words = [t.encode() for t in tokens]
    return Fingerprint(_sketch(words), _text_hash(words), len(words))


def sketch(tokens: Sequence[str]) -> tuple[int, ...]:
    """The bottom-k shingle hashes of a token sequence, ascending; () if too short."""
    return _sketch(list(map(str.encode, tokens)))


def _sketch(words: list[bytes]) -> tuple[int, ...]:
    if len(words) < SHINGLE + MIN_SHINGLES - 1:
        return ()
    # The same as hashing " ".join(tokens[i : i + SHINGLE]).encode() for each i, with the
    # loop in C: each shingle joined from SHINGLE shifted views of the encoded tokens.
    shingles = map(b" ".join, zip(*(words[i:] for i in range(SHINGLE)), strict=False))
    hashes = list(map(zlib.crc32, shingles))
    # The k smallest distinct, without sorting them all: the hashes are uniform over 32 bits,
    # so some 2k of them fall below this cut. Exact whenever k distinct ones do; else all.
    # (partial(gt, cut) is called from C faster than the bound cut.__gt__.)
    cut = (2 * SKETCH_SIZE << 32) // len(hashes)
    smallest = sorted(set(filter(partial(gt, cut), hashes)))
    if len(smallest) < SKETCH_SIZE:
        smallest = sorted(set(hashes))
    return tuple(smallest[:SKETCH_SIZE])


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two sketches."""
    if not a or not b:
        return 0.0
    first, second = set(a), set(b)
    union = sorted(first | second)[:SKETCH_SIZE]
    return len((first & second).intersection(union)) / len(union)


def text_hash(tokens: Sequence[str]) -> str:
    """Identity of a text up to case, punctuation and spacing."""
    return hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]


def _text_hash(words: list[bytes]) -> str:
    return hashlib.sha256(b" ".join(words)).hexdigest()[:32]


def is_near_duplicate(a: Sequence[int], b: Sequence[int]) -> bool:
    return similarity(a, b) >= THRESHOLD


def probes(*sketches: Sequence[int]) -> frozenset[int]:
    """The indexed hashes of a story's sketches: what finds it as a candidate."""
    return frozenset(h for s in sketches for h in s[:INDEXED_HASHES])
