"""Growth benchmark: does a cold poll of 10,000 new items cost the same in a big archive?

    python bench/growth.py [--sizes 10000,100000,1000000]

Grows one SQLite archive (``monitor.archive.sqlite.SQLiteArchive``) with generated
stories, written through ``store_entries`` in large batches, and at each size times a
real cold poll of a served farm of 500 feeds x 20 items whose items are all new to the
archive (a farm of its own seed at each size), in a fresh process through the Poller as
``bench/ingest.py`` does (``run_ours.py``). The generated stories draw their sentences
from the farm's generator (same Zipf vocabulary and grammar), 2-4 KB of text in
paragraphs, each with its own GUID and link so every one is a new story.

Prints wall and CPU seconds of each poll, the ratio of the last poll to the first
(target <= 1.3) and the archive's bytes per story (its files after a WAL checkpoint)
at each size, and how long growing took. One poll at each size says little on a shared
machine, whose slow spells last minutes: ``--rounds N`` (default 5) polls the first and
the last size N times in all, in pairs back to back (the same farm for both, the order
alternating), the first size in a fresh copy of the archive as it was then, the last in
the grown archive itself (which each pair's poll grows by 10,000 stories). The ratio is
the median of the last size's polls over the median of the first's. Every 50,000 new
stories the near-duplicate index moves its recent rows into its big table: a poll that
does so is marked "merged", and the last merge while growing to each size is printed with
its share of a poll. Never fails on a time, only when something is wrong (an item not
archived exactly once, a feed failing). ``--sizes 10000,50000`` runs in a couple of minutes.

Growing to a million stories takes some 15 minutes. ``--keep`` keeps the grown archive, and
``--reuse ARCHIVE`` polls a copy of such an archive, instead of the one grown in this run,
at the sizes it reaches (its stories count as grown; polled farms get seeds of their own,
``--farm-seed``, so that their items are new to it too). The smaller sizes are still
grown and polled in the same run, for the ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from farm import _SECTIONS, BASE_DATE, KINDS, TextGen, build_farm  # noqa: E402
from ingest import (  # noqa: E402
    REPO,
    WORK,
    ours_spec,
    run_child,
    serve,
    server_stats,
    stats_delta,
)

from monitor.archive import open_archive  # noqa: E402
from monitor.archive.sql import PROBE_MERGE_STORIES  # noqa: E402
from monitor.text.fingerprint import fingerprint  # noqa: E402
from monitor.types import Entry, Feed  # noqa: E402

TARGET = 1.3  # the last poll's time over the first's
GROWTH_FEEDS = 1000  # feeds the generated stories are spread over
SEED = 7


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _feed_url(n: int) -> str:
    return f"https://growth{n:04d}.example.org/rss.xml"


def make_batch(start: int, count: int) -> list[tuple[int, Entry]]:
    """Stories ``start`` .. ``start + count - 1``, each with the feed it comes from."""
    rng = random.Random(f"batch:{SEED}:{start}")
    gen = TextGen(rng, SEED)
    out = []
    for i in range(start, start + count):
        feed = i % GROWTH_FEEDS
        target = rng.randint(1800, 3600)  # the farm's 2-4 KB of HTML, as text
        paragraphs: list[str] = []
        size = 0
        while size < target:
            # Fresh sentences, never a pool's: sentences repeated across stories would make
            # their word triples far commoner than in news and slow the near-duplicate search.
            paragraph = " ".join(gen.sentence() for _ in range(rng.randint(2, 5)))
            paragraphs.append(paragraph)
            size += len(paragraph)
        headline = gen.headline()
        text = fingerprint(headline, paragraphs)
        section = _SECTIONS[i % len(_SECTIONS)]
        link = f"https://growth{feed:04d}.example.org/{section}/{i}"
        entry = Entry(
            guid=f"tag:growth{feed:04d}.example.org,2025:{i}",
            url=link,  # already canonical: lowercase host, no query or fragment
            link=link,
            headline=headline,
            paragraphs=tuple(paragraphs),
            published=BASE_DATE - timedelta(seconds=30 * i + rng.randint(0, 29)),
            author=gen.person(),
            sketch=text.sketch,
            text_hash=text.text_hash,
            words=text.words,
        )
        out.append((feed, entry))
    return out


class MergeLog(logging.Handler):
    """The near-duplicate index's merges while growing (``sql._merge_probes`` logs each, every
    PROBE_MERGE_STORIES new stories): (rows moved, seconds)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.merges: list[tuple[int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("near-duplicate index: merged"):
            rows, seconds = record.args or (0, 0.0)
            self.merges.append((int(rows), float(seconds)))


def grow(db: Path, start: int, stop: int, batch: int, procs: int) -> dict[str, Any]:
    """Stories ``start`` .. ``stop - 1`` into the archive: generated in ``procs`` worker
    processes while this one writes, one store_entries call per feed and batch."""
    merge_log = MergeLog()
    logger = logging.getLogger("monitor.archive.sql")
    logger.setLevel(logging.INFO)
    logger.addHandler(merge_log)
    archive = open_archive(f"sqlite:///{db}")
    feeds = [Feed(url=_feed_url(n), name=f"Growth {n:04d}") for n in range(GROWTH_FEEDS)]
    now = datetime.now(UTC)
    if start == 0:
        archive.sync_feeds(feeds, now, replan=lambda feed, state: None)
    jobs = [(s, min(batch, stop - s)) for s in range(start, stop, batch)]
    wall = time.perf_counter()
    cpu = _cpu()
    store_s = 0.0
    stored = 0
    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(procs) as pool:
        # A few batches ahead, no more: generating outruns storing, and what is made
        # ahead waits in memory (with imap: 2.4 GB resident and rising at 200,000).
        todo = iter(jobs)
        ahead = deque(pool.apply_async(make_batch, job) for job in islice(todo, procs + 1))
        while ahead:
            pairs = ahead.popleft().get()
            job = next(todo, None)
            if job is not None:
                ahead.append(pool.apply_async(make_batch, job))
            by_feed: dict[int, list[Entry]] = {}
            for feed, entry in pairs:
                by_feed.setdefault(feed, []).append(entry)
            began = time.perf_counter()
            with archive.batch():  # one transaction per batch, as a poll's writer groups them
                for feed, entries in by_feed.items():
                    result = archive.store_entries(_feed_url(feed), entries, now)
                    stored += len(result.new)
            store_s += time.perf_counter() - began
            done = jobs[0][0] + stored
            if done % 100_000 < batch:
                print(
                    f"  ... {done:,} generated stories, {time.perf_counter() - wall:.0f} s",
                    flush=True,
                )
    archive.close()
    logger.removeHandler(merge_log)
    if stored != stop - start:
        raise RuntimeError(f"growing stored {stored} new stories of {stop - start}")
    return {
        "wall_s": time.perf_counter() - wall,
        "main_cpu_s": _cpu() - cpu,
        "store_s": store_s,
        "stories": stored,
        "merges": merge_log.merges,
    }


def archive_bytes(db: Path) -> tuple[int, int]:
    """(bytes of the archive's files after a WAL checkpoint, stories in it)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stories = conn.execute("SELECT count(*) FROM stories").fetchone()[0]
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return size, stories


def poll(args: argparse.Namespace, work: Path, seed: int, before: int) -> dict[str, Any]:
    """A cold poll of a farm that is all new to the archive, in a fresh process."""
    farm = build_farm(WORK, args.feeds, args.items, seed, args.kind)
    with serve(farm) as base:
        spec = ours_spec(
            args,
            farm,
            base,
            profile=False,
            rules=None,
            edited=False,
            stories_before=before,
            work=str(work),  # run_ours.py's archive is work/archive.db: the grown one
        )
        stats = server_stats(base)
        result = run_child(sys.executable, "run_ours.py", spec, "ours")
        result["server"] = stats_delta(stats, server_stats(base))
    return result


def poll_row(
    args: argparse.Namespace, work: Path, seed: int, before: int, size_bytes: int
) -> dict[str, Any]:
    """The figures of one cold poll of farm ``seed`` into ``work``'s archive of ``before``
    stories, printed as a line."""
    result = poll(args, work, seed, before)
    v = result["verify"]
    ok = bool(v["exactly_once"]) and not result["cold"]["failed"] and not result["cold"]["changed"]
    row = {
        "stories_before": before,
        "bytes_before": size_bytes,
        "cold_s": result["cold_s"],
        "cold_cpu_s": result["cold_cpu_s"],
        "cold_main_cpu_s": result["cold_main_cpu_s"],
        "store_entries": result["cold_archive_calls"].get("store_entries"),
        "repoll_s": result["repoll_s"],
        "cold": result["cold"],
        "verify": v,
        "errors": result["errors"],
        "ok": ok,
        "rounds": [],
    }
    print(
        f"  cold poll {row['cold_s']:.2f} s, CPU {row['cold_cpu_s']:.1f} s, "
        f"{row['cold']}, exactly once: {'yes' if ok else 'NO'}",
        flush=True,
    )
    return row


def _median_of(row: dict[str, Any], key: str) -> float:
    """The median of ``key`` over a size's polls: its first and its other rounds'."""
    return statistics.median([row[key], *(r[key] for r in row["rounds"])])


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})
    if not sizes or sizes[0] <= 0:
        raise SystemExit("--sizes: positive story counts, e.g. 10000,100000,1000000")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=_sizes, default=_sizes("10000,100000,1000000"))
    p.add_argument("--batch", type=int, default=5000, help="stories per generated batch")
    p.add_argument("--feeds", type=int, default=500, help="feeds in each polled farm")
    p.add_argument("--items", type=int, default=20, help="items per feed")
    p.add_argument("--kind", default="rich", choices=KINDS, help="the polled farms' kind")
    p.add_argument("--concurrency", type=int, default=16, help="ours: [fetch] concurrency")
    p.add_argument("--per-host", type=int, default=4, help="ours: [fetch] per_host")
    p.add_argument("--workers", type=int, default=0, help="ours: parse processes (0: per CPU)")
    p.add_argument("--gen-procs", type=int, default=1, help="processes generating stories")
    p.add_argument("--keep", action="store_true", help="keep the archive under bench/.work")
    p.add_argument("--reuse", type=Path, help="poll a copy of this grown archive at its sizes")
    p.add_argument("--farm-seed", type=int, default=1000, help="the first polled farm's seed")
    p.add_argument(
        "--rounds", type=int, default=5, help="polls of the first and the last size (paired)"
    )
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="growth-", dir=WORK))
    db = work / "archive.db"
    first_copy = work / "first-size.db"
    rows: list[dict[str, Any]] = []
    ok = True
    started = time.perf_counter()
    try:
        stories = 0  # in the archive: grown ones and the polled farms'
        grown = 0
        reused = 0 if args.reuse is None else archive_bytes(args.reuse)[1]
        for n, size in enumerate(args.sizes):
            # The polled farms' items count towards the size: grow to size less those.
            want = size - n * args.feeds * args.items
            if args.reuse is not None and size >= reused and reused > stories:
                print(f"polling a copy of {args.reuse} ({reused:,} stories) from here on")
                shutil.copyfile(args.reuse, db)
                for suffix in ("-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                os.sync()  # the copy's write-back is not the poll's I/O
                stories = grown = reused
                want = max(want, grown)
            if want > grown:
                print(f"growing the archive to {size:,} stories ...", flush=True)
                growth = grow(db, grown, want, args.batch, args.gen_procs)
                grown = want
                stories += growth["stories"]
                print(
                    f"  grew {growth['stories']:,} stories in {growth['wall_s']:.0f} s "
                    f"(CPU of this process {growth['main_cpu_s']:.0f} s, "
                    f"{growth['store_s']:.0f} s in store_entries)",
                    flush=True,
                )
            else:
                growth = {
                    "wall_s": 0.0,
                    "main_cpu_s": 0.0,
                    "store_s": 0.0,
                    "stories": 0,
                    "merges": [],
                }
            size_bytes, counted = archive_bytes(db)
            if counted != stories:
                raise RuntimeError(f"the archive holds {counted} stories, {stories} expected")
            if n == 0:  # the first size as it is now, for its later rounds
                shutil.copyfile(db, first_copy)
            print(f"polling {args.feeds * args.items:,} new items at {stories:,} stories ...")
            row = poll_row(args, work, args.farm_seed + n, counted, size_bytes)
            row["growth"] = growth
            rows.append(row)
            ok = ok and row["ok"]
            stories += row["cold"]["new"]
        # The other rounds: the first size and the last, back to back on the same farm.
        first_work = work / "first"
        first_work.mkdir()
        for r in range(1, args.rounds if len(args.sizes) > 1 else 1):
            seed = args.farm_seed + len(args.sizes) + r
            order = ["first", "last"] if r % 2 else ["last", "first"]
            for which in order:
                if which == "first":
                    shutil.copyfile(first_copy, first_work / "archive.db")
                    for suffix in ("-wal", "-shm"):
                        (first_work / f"archive.db{suffix}").unlink(missing_ok=True)
                    print(f"round {r + 1}: polling at {rows[0]['stories_before']:,} stories ...")
                    row = poll_row(args, first_work, seed, rows[0]["stories_before"], 0)
                    rows[0]["rounds"].append(row)
                else:
                    size_bytes, counted = archive_bytes(db)
                    print(f"round {r + 1}: polling at {counted:,} stories ...")
                    row = poll_row(args, work, seed, counted, size_bytes)
                    rows[-1]["rounds"].append(row)
                    stories += row["cold"]["new"]
                ok = ok and row["ok"]
        total = time.perf_counter() - started
        final_bytes, final_stories = archive_bytes(db)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    first, last = rows[0], rows[-1]
    print(f"\n== growth benchmark: cold polls of {args.feeds} x {args.items} new items ==")
    print(
        f"  {'stories before':>14}  {'poll wall':>9}  {'poll CPU':>8}  {'store_entries':>13}"
        f"  {'vs first':>8}  {'bytes/story':>11}  {'grow wall':>9}  ok"
    )
    for r in rows:
        for poll_ in (r, *r["rounds"]):
            store = poll_["store_entries"] or {"seconds": 0.0}
            size = f"{r['bytes_before'] / r['stories_before']:>11,.0f}" if poll_ is r else " " * 11
            grew = f"{r['growth']['wall_s']:>7.0f} s" if poll_ is r else " " * 9
            before, after = poll_["stories_before"], poll_["stories_before"] + poll_["cold"]["new"]
            merged = before // PROBE_MERGE_STORIES != after // PROBE_MERGE_STORIES
            print(
                f"  {before:>14,}  {poll_['cold_s']:>7.2f} s"
                f"  {poll_['cold_cpu_s']:>6.1f} s  {store['seconds']:>11.2f} s"
                f"  {poll_['cold_s'] / first['cold_s']:>8.2f}  {size}  {grew}"
                f"  {'yes' if poll_['ok'] else 'NO'}{', merged' if merged else ''}"
            )
    if len(rows) > 1:
        polls = 1 + len(first["rounds"])
        ratio = _median_of(last, "cold_s") / _median_of(first, "cold_s")
        cpu_ratio = _median_of(last, "cold_cpu_s") / max(_median_of(first, "cold_cpu_s"), 1e-9)
        paired = zip(first["rounds"], last["rounds"], strict=True)
        pairs = [b["cold_s"] / a["cold_s"] for a, b in paired]
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(
            f"  last/first, median of {polls} polls each, at {last['stories_before']:,} vs "
            f"{first['stories_before']:,} stories: {ratio:.2f} (target <= {TARGET}: {verdict});"
            f" CPU ratio {cpu_ratio:.2f}"
            + (f"; back-to-back pairs {', '.join(f'{p:.2f}' for p in pairs)}" if pairs else "")
        )
    last_merges = [
        (r["stories_before"], r["growth"]["merges"][-1]) for r in rows if r["growth"]["merges"]
    ]
    for size, (moved, seconds) in last_merges:
        share = seconds * args.feeds * args.items / PROBE_MERGE_STORIES
        print(
            f"  near-duplicate index, the last merge before {size:,} stories: {moved:,} rows in"
            f" {seconds:.1f} s (one every {PROBE_MERGE_STORIES:,} new stories:"
            f" {share:.2f} s a poll of {args.feeds * args.items:,} items, amortized)"
        )
    grow_wall = sum(r["growth"]["wall_s"] for r in rows)
    print(
        f"  grew {sum(r['growth']['stories'] for r in rows):,} stories in {grow_wall:.0f} s; "
        f"at the end {final_stories:,} stories, {final_bytes / final_stories:,.0f} bytes/story "
        f"({final_bytes / 1e6:.0f} MB); whole run {total:.0f} s\n"
    )
    for r in rows:
        if not r["ok"]:
            print("  verification:", json.dumps(r["verify"]), r["cold"], r["errors"])
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "repo": str(REPO)}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
