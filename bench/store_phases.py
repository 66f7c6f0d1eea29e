"""Where the archive writer's time goes, in a small archive and in a big one.

    python bench/store_phases.py SMALL.db BIG.db [--rounds 3] [--tx-feeds 62]

``bench/growth.py`` times whole polls; this times the writer alone, phase by phase, to
show which part of storing 10,000 new items grows with the archive. Each archive is
copied under bench/.work first (the copies, not the originals, grow), then each round
parses a farm of 500 feeds x 20 items of its own seed (so every item is new to both
copies), stores it into each copy, in alternating order, with ``store_entries`` in
transactions of ``--tx-feeds`` feeds (about what a cold poll's writer commits at once),
and times, in wall seconds:

- ``keys``, ``search``, ``stories``, ``names``: the look-ups before a feed's write (its
  items' keys; the near-duplicate search by probes; the stories the decision reads; the
  ids taken);
- ``write``: the INSERTs and UPDATEs of the decision;
- ``fts``: the full-text index brought up to date at each commit; ``commit``: COMMIT
  itself (WAL frames, and the checkpoints SQLite runs at commit);
- ``merge``: the hash-keyed indexes' merge of their recent rows (every 50,000 stories); a
  round that merged is marked and left out of the medians.

Prints the medians of each phase per archive and their ratio, with the process's CPU
seconds beside the wall time. ``growth.py --keep`` leaves a grown archive
(``bench/.work/growth-*/archive.db``) and the copy of its first size (``first-size.db``).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from farm import build_farm  # noqa: E402
from run_ours import Timers, cpu_seconds  # noqa: E402

from monitor.archive import open_archive  # noqa: E402
from monitor.archive import sqlite as sqlite_archive  # noqa: E402
from monitor.parse.feed import parse_feed  # noqa: E402
from monitor.types import Entry, Feed  # noqa: E402

WORK = BENCH / ".work"
# SQLArchive's steps of one store_entries call, by the name printed.
STEPS = {
    "keys": "_known_keys",
    "search": "_search",
    "stories": "_known_stories",
    "names": "_name",
    "write": "_write",
    "merge": "_merge_recent",
}
PHASES = [*STEPS, "fts", "commit"]


def parsed_farm(seed: int) -> list[tuple[str, list[Entry]]]:
    """A farm of 500 x 20 new items, parsed: (feed URL, entries) per feed."""
    farm = build_farm(WORK, 500, 20, seed, "rich")
    now = datetime.now(UTC)
    feeds = []
    for n, path in enumerate(farm.paths):
        url = f"https://phases{seed}-{n:04d}.example.org/rss.xml"
        parsed = parse_feed((farm.root / path.lstrip("/")).read_bytes(), url=url, now=now)
        feeds.append((url, list(parsed.entries)))
    return feeds


def store(
    db: Path, feeds: list[tuple[str, list[Entry]]], tx_feeds: int, flush: Timers
) -> dict[str, float]:
    """Store ``feeds`` into the archive at ``db``; the seconds of each phase. ``flush`` times
    the full-text flush at each commit."""
    archive = open_archive(f"sqlite:///{db}")
    now = datetime.now(UTC)
    archive.sync_feeds(
        [Feed(url=url, name=url) for url, _ in feeds], now, replan=lambda feed, state: None
    )
    steps = Timers()
    for name in STEPS.values():  # on the instance: its methods, static ones included
        steps.wrap(archive, name)
    flush.take()
    stored = 0
    commit = 0.0
    wall, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    for start in range(0, len(feeds), tx_feeds):
        batch = archive.batch()
        batch.__enter__()
        for url, entries in feeds[start : start + tx_feeds]:
            stored += len(archive.store_entries(url, entries, now).new)
        began, flushed = time.perf_counter(), flush.seconds["flush_full_text"]
        batch.__exit__(None, None, None)
        spent = time.perf_counter() - began
        commit += spent - (flush.seconds["flush_full_text"] - flushed)
    out = {
        "wall": time.perf_counter() - wall,
        "cpu": cpu_seconds(resource.RUSAGE_SELF) - cpu,
        **{phase: steps.seconds[name] for phase, name in STEPS.items()},
        "fts": flush.seconds["flush_full_text"],
        "commit": commit,
    }
    archive.close()
    expected = sum(len(entries) for _, entries in feeds)
    if stored != expected:
        raise RuntimeError(f"{db}: stored {stored} new stories of {expected}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("small", type=Path, help="the small archive (say, 10,000 stories)")
    p.add_argument("big", type=Path, help="the big one (say, 1,000,000 stories)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tx-feeds", type=int, default=62, help="feeds in one transaction")
    p.add_argument("--seed", type=int, default=4000, help="the first round's farm seed")
    args = p.parse_args(argv)
    work = WORK / "store-phases"
    work.mkdir(parents=True, exist_ok=True)
    copies = {"small": work / "small.db", "big": work / "big.db"}
    for name, source in (("small", args.small), ("big", args.big)):
        print(f"copying {source} ...", flush=True)
        for stale in work.glob(f"{name}.db*"):
            stale.unlink()
        shutil.copyfile(source, copies[name])
    flush = Timers()
    flush.wrap(sqlite_archive, "flush_full_text")  # looked up there at each commit
    runs: dict[str, list[dict[str, float]]] = {"small": [], "big": []}
    for r in range(args.rounds):
        feeds = parsed_farm(args.seed + r)
        order = ["small", "big"] if r % 2 == 0 else ["big", "small"]
        for name in order:
            run = store(copies[name], feeds, args.tx_feeds, flush)
            merged = run.get("merge", 0.0) > 0
            runs[name].append(run)
            print(
                f"round {r + 1} {name:5s} {run['wall']:.2f} s, CPU {run['cpu']:.2f} s"
                + (f", merged in {run['merge']:.2f} s (left out)" if merged else ""),
                flush=True,
            )
    print(f"\n== the writer alone: 10,000 new items in transactions of {args.tx_feeds} feeds ==")
    print(f"  {'phase':8s} {'small':>8s} {'big':>8s} {'big/small':>10s} {'big-small':>10s}")
    # The rounds that did not merge (all of them, should every one have merged).
    kept = {name: [r for r in rs if not r.get("merge")] or rs for name, rs in runs.items()}
    for key in ["wall", "cpu", *PHASES]:
        small = statistics.median(r.get(key, 0.0) for r in kept["small"])
        big = statistics.median(r.get(key, 0.0) for r in kept["big"])
        ratio = f"{big / small:.2f}" if small else "-"
        print(f"  {key:8s} {small:7.3f}s {big:7.3f}s {ratio:>10s} {big - small:+9.3f}s")
    print("  (medians of the rounds that did not merge; wall seconds but for cpu)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
