"""Runs our monitor on a served farm: a cold poll into an empty archive, then a re-poll,
then (with ``"edited": true`` in the spec) a poll after the server switched every feed
to its edited version, in which every item changed its text.

Started by ``bench/ingest.py`` in a fresh process (so its peak memory is its own):
``python run_ours.py SPEC_JSON``. Prints one line ``RESULT <json>`` on stdout.
"""

from __future__ import annotations

import cProfile
import io
import json
import multiprocessing.forkserver
import os
import pstats
import resource
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farm import load_farm

# The monitor (and httpx) are imported where they are used: a parse worker runs the top of
# the script that started its parent, and this one stands in for the light `monitor` script.
if TYPE_CHECKING:
    from monitor.types import PollSummary


def write_config(path: Path, urls: list[str], spec: dict[str, Any]) -> None:
    # A shared archive when the spec names one (run_shared.py), else SQLite beside it.
    archive = spec.get("archive") or f"sqlite:///{path.parent / 'archive.db'}"
    lines = [
        "[archive]",
        f'url = "{archive}"',
        "",
        "[fetch]",
        f"concurrency = {spec['concurrency']}",
        f"per_host = {spec['per_host']}",
        "",
        "[schedule]",
        f"workers = {spec['workers']}",
        "",
    ]
    for i, url in enumerate(urls):
        lines += ["[[feeds]]", f'url = "{url}"', f'name = "Bench feed {i:04d}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")


class Timers:
    """Wall time spent inside wrapped methods (they run in the poller's archive writer thread)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)

    def wrap(self, obj: object, name: str) -> None:
        inner: Callable[..., Any] = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        setattr(obj, name, timed)

    def take(self) -> dict[str, dict[str, float]]:
        out = {k: {"seconds": round(v, 3), "calls": self.calls[k]} for k, v in self.seconds.items()}
        self.seconds.clear()
        self.calls.clear()
        return out


def _descendants() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, name) for every process below this one."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents[int(entry)] = (ppid, name)
    mine: dict[int, tuple[int, str]] = {}
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, (ppid, _) in parents.items() if ppid in frontier}
        mine.update((pid, parents[pid]) for pid in frontier)
    return mine


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_peaks() -> list[dict[str, Any]]:
    out = []
    for pid, (ppid, name) in sorted(_descendants().items()):
        try:
            out.append({"pid": pid, "ppid": ppid, "name": name, "peak_mb": _peak_rss_mb(pid)})
        except OSError:
            continue
    return out


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_seconds() -> float:
    """CPU seconds of this process and every live descendant (the parse workers live on
    between polls, so the difference across a poll is that poll's, workers included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in [os.getpid(), *_descendants()]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def serve_version(base: str, version: str) -> None:
    import httpx

    with httpx.Client(trust_env=False) as client:
        client.get(f"{base}/_serve/{version}").raise_for_status()


def summarize(summary: PollSummary) -> dict[str, int]:
    return {
        "updated": summary.count("updated"),
        "unchanged": summary.count("unchanged"),
        "failed": summary.count("failed"),
        "gone": summary.count("gone"),
        "new": summary.new_stories,
        "changed": summary.changed_stories,
    }


def verify(db_path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Every farm item archived exactly once: as a story, under its link and its GUID."""
    farm = load_farm(Path(spec["farm"]))
    base = spec["base_url"]
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    url_of = dict(db.execute("SELECT seq, url FROM stories"))
    per_url: defaultdict[str, int] = defaultdict(int)
    for url in url_of.values():
        per_url[url] += 1
    feed_ids = {url: fid for fid, url in db.execute("SELECT id, url FROM feeds")}
    guid_keys = dict(db.execute("SELECT key, story_seq FROM story_keys WHERE key LIKE 'guid:%'"))
    sources = dict(db.execute("SELECT story_seq, count(*) FROM story_sources GROUP BY story_seq"))
    db.close()

    missing_link = dup_link = missing_guid = wrong_guid = 0
    seqs: set[int] = set()
    for path, items in farm.items_by_path.items():
        fid = feed_ids.get(base + path)
        for item in items:
            count = per_url.get(item.link, 0)
            missing_link += count == 0
            dup_link += count > 1
            seq = guid_keys.get(f"guid:{fid}:{item.guid}")
            if seq is None:
                missing_guid += 1
                continue
            seqs.add(seq)
            wrong_guid += url_of.get(seq) != item.link
    expected = farm.item_count
    multi_source = sum(1 for n in sources.values() if n != 1)
    ok = (
        stories == expected + spec.get("stories_before", 0)  # a grown archive's, too
        and len(seqs) == expected
        and not (missing_link or dup_link or missing_guid or wrong_guid or multi_source)
    )
    return {
        "stories": stories,
        "expected": expected,
        "distinct_guid_stories": len(seqs),
        "missing_link": missing_link,
        "duplicate_link": dup_link,
        "missing_guid": missing_guid,
        "guid_on_wrong_story": wrong_guid,
        "stories_without_one_source": multi_source,
        "exactly_once": ok,
    }


def stop_forkserver() -> None:
    """Stop and reap the forkserver, so its (reaped) workers count in RUSAGE_CHILDREN."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is not None:
        stop()


def main() -> None:
    from monitor import aio
    from monitor.alerts.plan import AlertPlanner
    from monitor.archive import open_archive
    from monitor.config import load_config
    from monitor.poll.poller import Poller
    from monitor.rules import load_rules

    spec = json.loads(sys.argv[1])
    work = Path(spec["work"])
    work.mkdir(parents=True, exist_ok=True)
    farm = load_farm(Path(spec["farm"]))
    urls = [spec["base_url"] + p for p in farm.paths]
    config_path = work / "config.toml"
    write_config(config_path, urls, spec)

    config = load_config(config_path)
    archive = open_archive(config.archive_url)
    timers = Timers()
    for name in ("sync_feeds", "claim_due", "store_entries", "record_poll"):
        timers.wrap(archive, name)
    if spec.get("rules"):  # matching: outside the transaction, then recording it
        for name in ("prepare_matches", "record_matches"):
            timers.wrap(archive, name)
    planner = None
    if spec.get("rules"):  # match as `monitor poll` does, alerting one notifier
        rules, rule_errors = load_rules(Path(spec["rules"]))
        assert not rule_errors, rule_errors
        planner = AlertPlanner(lambda: rules, config.feeds, ["bench"])
    poller = Poller(config, archive, matcher=planner)
    result: dict[str, Any] = {
        "pid": os.getpid(),
        "config": {k: spec[k] for k in ("concurrency", "per_host")},
    }
    result["config"]["workers"] = spec["workers"] or os.cpu_count()
    errors: set[str] = set()

    profiles: dict[str, cProfile.Profile] = {}
    try:
        # The re-poll is short and noisy (the cold poll's garbage is collected in the first):
        # it runs ``repolls`` times, and its figures are the medians.
        phases = ["cold"] + ["repoll"] * spec.get("repolls", 1)
        phases += ["edited"] if spec.get("edited") else []
        runs: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for phase in phases:
            if phase == "edited":
                serve_version(spec["base_url"], "edited")
            # One profile per phase: the first re-poll's.
            profiler = cProfile.Profile() if spec.get("profile") and phase not in runs else None
            tree_cpu = tree_cpu_seconds()
            cpu = cpu_seconds(resource.RUSAGE_SELF)
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            summary = aio.run(poller.poll(all_feeds=True))
            if profiler is not None:
                profiler.disable()
                profiles[phase] = profiler
            runs[phase].append(
                {
                    "s": time.perf_counter() - started,
                    "main_cpu_s": cpu_seconds(resource.RUSAGE_SELF) - cpu,
                    "cpu_s": tree_cpu_seconds() - tree_cpu,
                }
            )
            result[phase] = summarize(summary)  # the last run's (a re-poll's changes: below)
            result[f"{phase}_archive_calls"] = timers.take()
            errors.update(o.error for o in summary.outcomes if o.error)
            if phase == "repoll" and summary.count("unchanged") != len(summary.outcomes):
                errors.add(f"a re-poll found changes: {result[phase]}")
        for phase, timed in runs.items():
            for key in ("s", "main_cpu_s", "cpu_s"):
                result[f"{phase}_{key}"] = statistics.median(run[key] for run in timed)
            result[f"{phase}_runs_s"] = [run["s"] for run in timed]
        result["children"] = child_peaks()
    finally:
        if spec.get("edited"):
            serve_version(spec["base_url"], "feeds")  # as found, for whoever polls next
        poller.close()
        archive.close()
        stop_forkserver()

    result["main_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["children_cpu_s"] = cpu_seconds(resource.RUSAGE_CHILDREN)  # both polls, mostly cold
    result["verify"] = verify(work / "archive.db", spec)
    result["errors"] = sorted(errors)[:5]
    for phase, profiler in profiles.items():
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
        stats.print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
        (work / f"{phase}-profile.txt").write_text(out.getvalue())
        profiler.dump_stats(work / f"{phase}.pstats")
        result.setdefault("profiles", []).append(str(work / f"{phase}-profile.txt"))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
