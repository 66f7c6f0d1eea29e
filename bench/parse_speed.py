"""CPU per item of ``parse_feed``, and a digest of everything it returns.

    python bench/parse_speed.py [--farm DIR] [--dev DIR] [--repeat N]
                                [--write-digest FILE | --check-digest FILE]

Times ``parse_feed`` (process CPU, best of N rounds) over the farm's feed files and over the
real feeds of ``feeds-dev``, and prints milliseconds of CPU per item. With a digest file it
records (or compares against) the repr of every ParsedFeed, or of the error raised, for every
file: the farm, feeds-dev, and the test fixtures, read both with the fast RSS path and with
feedparser alone, so that a speed-up can be shown to change no output at all.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from monitor.errors import FeedParseError  # noqa: E402
from monitor.parse.feed import parse_feed  # noqa: E402

NOW = datetime(2025, 3, 15, tzinfo=UTC)
URL = "https://feeds.example/news/feed"
DEFAULT_FARM = BENCH / ".work" / "farm-v2-500x20-s1" / "feeds"
DEFAULT_DEV = Path("/work/shared/feeds-dev")
SUFFIXES = (".xml", ".json", ".rss", ".atom", ".html", ".rdf")


def feed_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def outcome(data: bytes, *, fast: bool) -> str:
    try:
        return repr(parse_feed(data, url=URL, now=NOW, fast=fast))
    except FeedParseError as exc:
        return f"error: {exc}"


def cpu_per_item(bodies: list[bytes], repeat: int) -> tuple[float, int]:
    """Best-of-``repeat`` process CPU seconds per item, and the number of items."""
    items = 0
    for data in bodies:
        with contextlib.suppress(FeedParseError):
            items += len(parse_feed(data, url=URL, now=NOW).entries)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for data in bodies:
            with contextlib.suppress(FeedParseError):
                parse_feed(data, url=URL, now=NOW)
        best = min(best, time.process_time() - start)
    return best / max(items, 1), items


def digest(groups: Iterable[tuple[str, Path, list[Path]]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, folder, files in groups:
        for path in files:
            data = path.read_bytes()
            for fast in (True, False):
                text = outcome(data, fast=fast)
                key = f"{name}:{path.relative_to(folder)}:{'fast' if fast else 'feedparser'}"
                out[key] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--farm", type=Path, default=DEFAULT_FARM)
    ap.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write-digest", type=Path)
    ap.add_argument("--check-digest", type=Path)
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    farm, dev = feed_files(args.farm), feed_files(args.dev)
    fixtures = feed_files(ROOT / "tests" / "fixtures")
    if not args.no_timing:
        for name, files in (("farm", farm), ("feeds-dev", dev)):
            per_item, items = cpu_per_item([p.read_bytes() for p in files], args.repeat)
            print(f"{name}: {len(files)} files, {items} items, {per_item * 1000:.3f} ms CPU/item")
    if args.write_digest or args.check_digest:
        start = time.perf_counter()
        fixtures_dir = ROOT / "tests" / "fixtures"
        found = digest(
            (
                ("farm", args.farm, farm),
                ("dev", args.dev, dev),
                ("fixtures", fixtures_dir, fixtures),
            )
        )
        took = time.perf_counter() - start
        if args.write_digest:
            args.write_digest.write_text(json.dumps(found, indent=0, sort_keys=True))
            print(f"digest of {len(found)} outcomes written to {args.write_digest} ({took:.0f} s)")
            return 0
        wanted = json.loads(args.check_digest.read_text())
        differ = sorted(k for k in wanted.keys() | found.keys() if wanted.get(k) != found.get(k))
        for key in differ[:20]:
            print(f"DIFFERS: {key}")
        print(f"digest: {len(found)} outcomes, {len(differ)} differ ({took:.0f} s)")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
