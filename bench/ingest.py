"""Ingest benchmark: our monitor against lemon24/reader 3.26 on the same feed farm.

    python bench/ingest.py [--feeds N] [--items M]      # defaults 500 x 20

Builds (or reuses) deterministic farms of N RSS feeds x M items under bench/.work/:
``--farms rich,plain`` (the default: both) names them, "rich" items carrying HTML
with links, emphasis, lists, quotes and furniture, "plain" ones only text paragraphs.
Serves each on 127.0.0.1 from a separate process (HTTP/1.1 keep-alive, ETag,
Last-Modified, 304s), then in fresh processes times a cold poll into an empty
archive and re-polls (every feed answering 304; ``--repolls`` of them, 5, the median
shown), first with our monitor, then with reader (installed into its own venv at
bench/.work/reader-venv on first use; the only time anything but 127.0.0.1 is
contacted, and only by pip).
Ours then polls once more after the server switched every feed to its edited
version (every item's text changed, same GUID and link; ``--no-edited`` skips it):
each item must count as changed once, and the edited poll's time is set against
the cold poll's.

Run it with the project's interpreter (the one that has `monitor` and httpx).
Prints wall times, CPU seconds (steadier than wall times on a shared machine),
peak memory and ratios; never fails on a time, only when something is wrong (a
feed failed, a re-poll got no 304, an item was not archived exactly once).
``--feeds 20 --items 5`` runs in seconds (CI smoke); ``--no-reader`` skips the
baseline (and pip); ``--profile`` keeps cProfile output of our main process;
``--json FILE`` writes every figure; ``--rules`` matches every story against the
shipped topics (``rules/``) as ``monitor poll`` does, so the cost of matching and of
recording matches is in the figures.

``--archive postgresql://USER@HOST/DB`` also runs 1, 2 and 3 workers (``--shared-workers``)
sharing one PostgreSQL archive on the same farm, each in a database of its own made next
to DB (and dropped after), and prints their feeds per second beside the SQLite figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from farm import KINDS, Farm, build_farm  # noqa: E402

REPO = BENCH.parent
WORK = BENCH / ".work"
READER_VERSION = "3.26"
READER_VENV = WORK / "reader-venv"
TARGETS = {"cold": 0.35, "repoll": 0.2, "memory_mb": 300.0, "edited": 1.5}
RUN_TIMEOUT = 3600.0


def loopback_env() -> dict[str, str]:
    """The environment for child processes: no proxies, so only 127.0.0.1 is contacted."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@contextmanager
def serve(farm: Farm) -> Iterator[str]:
    """Serve the farm from a child process; yield its base URL; always stop it."""
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "farm_server.py"), str(farm.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=loopback_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"farm server did not start (said {line!r})")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(base: str) -> dict[str, int]:
    with httpx.Client(trust_env=False) as client:
        data: dict[str, int] = client.get(f"{base}/_stats").json()
        return data


def stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    keys = sorted(set(before) | set(after))
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return {k: v for k, v in delta.items() if v}


def server_floor(base: str, farm: Farm) -> dict[str, Any]:
    """Fetch the whole farm with a plain sequential client; check 304s work both ways."""
    size = 0
    with httpx.Client(trust_env=False, timeout=30) as client:
        started = time.perf_counter()
        for path in farm.paths:
            response = client.get(base + path)
            response.raise_for_status()
            size += len(response.content)
        seconds = time.perf_counter() - started
        first = client.get(base + farm.paths[0])
        by_etag = client.get(
            base + farm.paths[0], headers={"If-None-Match": first.headers["etag"]}
        ).status_code
        by_date = client.get(
            base + farm.paths[0], headers={"If-Modified-Since": first.headers["last-modified"]}
        ).status_code
    if (by_etag, by_date) != (304, 304) or size != farm.total_bytes:
        raise RuntimeError(f"farm server misbehaves: {by_etag=} {by_date=} {size=}")
    return {"seconds": seconds, "bytes": size}


def run_child(python: str, script: str, spec: dict[str, Any], label: str) -> dict[str, Any]:
    """Run a bench script in a fresh process and return its RESULT."""
    proc = subprocess.run(
        [python, str(BENCH / script), json.dumps(spec)],
        capture_output=True,
        text=True,
        env=loopback_env(),
        timeout=RUN_TIMEOUT,
        cwd=spec["work"],
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise RuntimeError(f"{label} run failed (exit {proc.returncode})")
    if proc.stderr.strip():
        noise = proc.stderr.strip().splitlines()
        print(f"  ({label}: {len(noise)} lines on stderr, last: {noise[-1][:160]})")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def reader_python() -> str:
    """reader's interpreter, its venv created and reader installed when missing."""
    python = READER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import reader, sgmllib; print(reader.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == READER_VERSION:
            return str(python)
    print(f"installing reader=={READER_VERSION} into {READER_VENV.relative_to(REPO)} (pip) ...")
    shutil.rmtree(READER_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(READER_VENV)], check=True)
    # reader 3.26's vendored feedparser imports `sgmllib`, which newer feedparser releases
    # no longer pull in (they ship `feedparser_sgmllib`): install the original module too.
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"reader=={READER_VERSION}",
            "sgmllib3k",
        ],
        check=True,
    )
    return str(python)


def _target(value: float, limit: float, below: bool = True) -> str:
    ok = value <= limit if below else value < limit
    return f"target {'<=' if below else '<'} {limit:g}: {'ok' if ok else 'MISSED'}"


def report(args: argparse.Namespace, kind: str, results: dict[str, Any]) -> bool:
    """Print one farm's table; True when every check that is not a time passed."""
    ours = results["ours"]
    readers: list[dict[str, Any]] = results["reader"]
    base = next((r for r in readers if r["workers"] == 1), readers[0] if readers else None)
    # Children: forkserver and resource tracker (parent: ours), workers (parent: forkserver).
    workers = [c for c in ours["children"] if c["ppid"] != ours["pid"]]
    worker_peak = max((c["peak_mb"] for c in workers), default=0.0)
    total_mb = ours["main_peak_mb"] + sum(c["peak_mb"] for c in ours["children"])
    v = ours["verify"]
    edited = ours.get("edited")
    failed = ours["cold"]["failed"] + ours["repoll"]["failed"] + (edited or {}).get("failed", 0)
    items = args.feeds * args.items
    edited_ok = edited is None or (edited["new"] == 0 and edited["changed"] == items)
    all_304 = ours["server"].get("304", 0) == args.feeds * args.repolls

    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: str, note: str = "") -> None:
        rows.append((name, value, note))

    cpu = (
        f"CPU {ours['cold_cpu_s']:.1f} s (main {ours['cold_main_cpu_s']:.1f} s; "
        f"workers, all polls: {ours['children_cpu_s']:.1f} s)"
    )
    add("ours cold poll", f"{ours['cold_s']:.2f} s", cpu)
    for name in ("store_entries", "prepare_matches", "record_matches"):
        calls = ours["cold_archive_calls"].get(name)
        if calls is None and name != "store_entries":
            continue  # matched only with --rules
        calls = calls or {"seconds": 0.0, "calls": 0}
        add(
            f"  of which in archive.{name}",
            f"{calls['seconds']:.2f} s",
            f"{calls['calls']} calls, in the archive writer thread (wall)",
        )
    for r in readers:
        add(
            f"reader cold (workers={r['workers']})",
            f"{r['cold_s']:.2f} s",
            f"CPU {r['cold_cpu_s']:.1f} s",
        )
    if base:
        cpu_ratio = ours["cold_cpu_s"] / max(base["cold_cpu_s"], 1e-9)
        add(
            "cold ratio ours/reader",
            f"{ours['cold_s'] / base['cold_s']:.2f}",
            f"{_target(ours['cold_s'] / base['cold_s'], TARGETS['cold'])}; CPU ratio "
            f"{cpu_ratio:.2f} (steadier on a busy machine)",
        )
    add(
        f"ours re-poll (all 304), median of {args.repolls}",
        f"{ours['repoll_s']:.3f} s",
        f"CPU {ours['repoll_main_cpu_s']:.2f} s",
    )
    for r in readers:
        add(
            f"reader re-poll (workers={r['workers']}), median",
            f"{r['repoll_s']:.3f} s",
            f"CPU {r['repoll_cpu_s']:.2f} s",
        )
    if base:
        add(
            "re-poll ratio ours/reader",
            f"{ours['repoll_s'] / base['repoll_s']:.2f}",
            _target(ours["repoll_s"] / base["repoll_s"], TARGETS["repoll"]),
        )
    if edited is not None:
        add(
            "ours edited poll (every item changed)",
            f"{ours['edited_s']:.2f} s",
            f"CPU {ours['edited_cpu_s']:.1f} s (main {ours['edited_main_cpu_s']:.1f} s)",
        )
        calls = ours["edited_archive_calls"].get("store_entries", {"seconds": 0.0, "calls": 0})
        add(
            "  of which in archive.store_entries",
            f"{calls['seconds']:.2f} s",
            f"{calls['calls']} calls, in the archive writer thread (wall)",
        )
        ratio = ours["edited_s"] / ours["cold_s"]
        cpu_ratio = ours["edited_cpu_s"] / max(ours["cold_cpu_s"], 1e-9)
        add(
            "edited/cold ratio, ours",
            f"{ratio:.2f}",
            f"{_target(ratio, TARGETS['edited'])}; CPU ratio {cpu_ratio:.2f}",
        )
    add("ours peak RSS, main process", f"{ours['main_peak_mb']:.0f} MB", "")
    add(
        f"ours peak RSS, largest of {len(workers)} workers",
        f"{worker_peak:.0f} MB",
        f"RUSAGE_CHILDREN maxrss {ours['children_peak_mb']:.0f} MB",
    )
    add(
        "ours peak RSS, main + every child (sum)",
        f"{total_mb:.0f} MB",
        _target(total_mb, TARGETS["memory_mb"], below=False),
    )
    for r in readers:
        add(f"reader peak RSS (workers={r['workers']})", f"{r['main_peak_mb']:.0f} MB", "")
    add(
        "ours: every item archived exactly once",
        "yes" if v["exactly_once"] else "NO",
        f"{v['stories']}/{v['expected']} stories",
    )
    for r in readers:
        rv = r["verify"]
        add(
            f"reader: every item stored exactly once (w={r['workers']})",
            "yes" if rv["exactly_once"] else "NO",
            f"{rv['entries']}/{rv['expected']} entries",
        )
    if edited is not None:
        add(
            "ours edited: every item changed once",
            "yes" if edited_ok else "NO",
            f"changed {edited['changed']}/{items}, new {edited['new']}",
        )
    add(
        "ours re-poll: every feed answered 304",
        "yes" if all_304 else "NO",
        f"{ours['server'].get('connections', 0)} connections in every poll",
    )

    sqlite_rate = args.feeds / ours["cold_s"]
    shared_ok = True
    for run in results.get("shared", []):
        shared_ok = shared_ok and run["exactly_once"] and not run["failed"]
        add(
            f"PostgreSQL, {run['workers']} worker{'s' if run['workers'] > 1 else ''}",
            f"{run['feeds_per_s']:.0f}/s",
            f"{run['wall_s']:.2f} s, {run['feeds_per_s'] / sqlite_rate:.2f}x SQLite's "
            f"{sqlite_rate:.0f} feeds/s; CPU {run['cpu_s']:.1f} s; feeds per worker "
            f"{run['polled']}; exactly once: {'yes' if run['exactly_once'] else 'NO'}",
        )

    width = max(len(r[0]) for r in rows)
    print(
        f"\n== ingest benchmark, {kind} farm: {args.feeds} feeds x {args.items} items, "
        f"{results['farm_bytes'] / 1e6:.1f} MB =="
    )
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>9}  {note}")
    config = ours["config"]
    print(
        f"  (ours: per_host={config['per_host']} concurrency={config['concurrency']} "
        f"workers={config['workers']}; load average before the run "
        f"{results['load_before']:.2f} on {os.cpu_count()} CPUs)\n"
    )
    if not v["exactly_once"]:
        print("  verification:", json.dumps(v))
    if failed or ours["errors"]:
        print(f"  {failed} feed polls failed:", ours["errors"])
    for run in results.get("shared", []):
        if run["errors"]:
            print(f"  PostgreSQL, {run['workers']} workers: errors", run["errors"])
    return bool(v["exactly_once"]) and not failed and all_304 and shared_ok and edited_ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--feeds", type=int, default=500)
    p.add_argument("--items", type=int, default=20, help="items per feed")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--farms", default="rich,plain", help="comma-separated farm kinds: rich, plain (both)"
    )
    p.add_argument("--no-edited", action="store_true", help="skip ours' edited-items poll")
    p.add_argument(
        "--repolls", type=int, default=5, help="re-polls timed, each tool (the median is shown)"
    )
    p.add_argument("--concurrency", type=int, default=16, help="ours: [fetch] concurrency")
    p.add_argument("--per-host", type=int, default=4, help="ours: [fetch] per_host")
    p.add_argument("--workers", type=int, default=0, help="ours: parse processes (0: per CPU)")
    p.add_argument(
        "--reader-workers",
        default="1",
        help="comma-separated reader worker counts to run, e.g. 1,2 (default 1)",
    )
    p.add_argument("--no-reader", action="store_true", help="skip reader (no baseline)")
    p.add_argument(
        "--profile", action="store_true", help="cProfile our main process (implies --keep)"
    )
    p.add_argument("--keep", action="store_true", help="keep the archives under bench/.work")
    p.add_argument(
        "--rules", action="store_true", help="ours: match the stories against rules/ as well"
    )
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    p.add_argument(
        "--archive",
        help="a postgresql:// URL: also run workers sharing an archive there (first farm only)",
    )
    p.add_argument("--shared-workers", default="1,2,3", help="worker counts to run with --archive")
    return p.parse_args(argv)


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new database beside the one ``url`` names, dropped afterwards; its URL."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"monitor_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_shared(spec: dict[str, Any], url: str, workers: int, work: Path) -> dict[str, Any]:
    """``workers`` processes polling the farm into one new PostgreSQL archive together."""
    import psycopg

    from monitor.archive import open_archive

    farm_items = spec["expected_items"]
    with scratch_database(url) as db:
        open_archive(db).close()  # the schema, before the workers start
        procs = []
        for n in range(workers):
            child = {**spec, "archive": db, "work": str(work / f"worker{n}")}
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(BENCH / "run_shared.py"), json.dumps(child)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=loopback_env(),
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                raise RuntimeError("a shared-archive worker did not start")
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=RUN_TIMEOUT) for proc in procs]
        wall = time.perf_counter() - started
        results = []
        for proc, (out, err) in zip(procs, outputs, strict=True):
            lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                sys.stderr.write(out[-2000:] + err[-4000:])
                raise RuntimeError(f"a shared-archive worker failed (exit {proc.returncode})")
            results.append(json.loads(lines[-1].removeprefix("RESULT ")))
        with psycopg.connect(db) as conn:
            stories, urls = conn.execute(
                "SELECT count(*), count(DISTINCT url) FROM stories"
            ).fetchone()
            done = conn.execute(
                "SELECT count(*) FROM feeds WHERE last_success IS NOT NULL"
            ).fetchone()[0]
    polled = sum(r["polled"] for r in results)
    return {
        "workers": workers,
        "wall_s": wall,
        "feeds_per_s": spec["feeds"] / wall,
        "polled": [r["polled"] for r in results],
        "failed": sum(r["failed"] for r in results),
        "cpu_s": sum(r["main_cpu_s"] + r["children_cpu_s"] for r in results),
        "exactly_once": stories == urls == farm_items and done == spec["feeds"],
        "stories": stories,
        "repolled": polled - spec["feeds"],
        "errors": sorted({e for r in results for e in r["errors"]})[:5],
    }


def bench_ours(base: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    work.mkdir()
    before = server_stats(base)
    ours = run_child(sys.executable, "run_ours.py", {**spec, "work": str(work)}, "ours")
    # Every poll together; on an empty archive, the 304s are the re-polls'.
    ours["server"] = stats_delta(before, server_stats(base))
    print(
        f"  cold {ours['cold_s']:.2f} s {ours['cold']}, re-poll {ours['repoll_s']:.3f} s "
        f"{ours['repoll']}, server {ours['server']}"
    )
    if "edited_s" in ours:
        print(f"  edited {ours['edited_s']:.2f} s {ours['edited']}")
    for path in ours.get("profiles", []):
        print(f"  cProfile of the main process: {path}")
    return ours


def bench_reader(
    base: str, spec: dict[str, Any], work: Path, python: str, workers: int
) -> dict[str, Any]:
    work.mkdir()
    before = server_stats(base)
    spec = {**spec, "work": str(work), "workers": workers}
    result = run_child(python, "run_reader.py", spec, "reader")
    result["server"] = stats_delta(before, server_stats(base))
    print(
        f"  cold {result['cold_s']:.2f} s {result['cold']}, re-poll {result['repoll_s']:.3f} s "
        f"{result['repoll']}, server {result['server']}"
    )
    return result


def ours_spec(args: argparse.Namespace, farm: Farm, base: str, **more: Any) -> dict[str, Any]:
    """What run_ours.py is told: the served farm and our settings from ``args``, and ``more``."""
    return {
        "farm": str(farm.root),
        "base_url": base,
        "concurrency": args.concurrency,
        "per_host": args.per_host,
        "workers": args.workers,
        **more,
    }


def bench_farm(
    args: argparse.Namespace, kind: str, reader_py: str | None, runs: Path, shared: bool
) -> dict[str, Any]:
    """Every run on one farm: ours, then (``shared``) PostgreSQL workers, then reader."""
    started = time.perf_counter()
    farm = build_farm(WORK, args.feeds, args.items, args.seed, kind)
    print(
        f"{kind} farm: {farm.feeds} feeds x {farm.items} items, {farm.total_bytes / 1e6:.1f} MB "
        f"at {farm.root.relative_to(REPO)} ({time.perf_counter() - started:.1f} s)"
    )
    results: dict[str, Any] = {"farm_bytes": farm.total_bytes, "reader": []}
    runs = runs / kind
    runs.mkdir()
    with serve(farm) as base:
        floor = server_floor(base, farm)
        results["server_floor"] = floor
        print(
            f"server floor: a sequential httpx.Client fetched the farm in {floor['seconds']:.2f} s"
        )
        spec = ours_spec(
            args,
            farm,
            base,
            profile=args.profile,
            rules=str(REPO / "rules") if args.rules else None,
            edited=not args.no_edited,
            repolls=args.repolls,
        )
        print(
            f"ours: concurrency={args.concurrency} per_host={args.per_host} "
            f"workers={args.workers or os.cpu_count()} ..."
        )
        results["ours"] = bench_ours(base, spec, runs / "ours")
        if shared:
            shared_spec = {**spec, "feeds": farm.feeds, "expected_items": farm.item_count}
            results["shared"] = []
            for workers in _ints(args.shared_workers):
                print(f"ours, {workers} workers sharing PostgreSQL ...")
                run = bench_shared(shared_spec, args.archive, workers, runs / f"pg-{workers}")
                print(
                    f"  {run['wall_s']:.2f} s, {run['feeds_per_s']:.0f} feeds/s, polled "
                    f"{run['polled']}, CPU {run['cpu_s']:.1f} s"
                )
                results["shared"].append(run)
        if reader_py is not None:
            for workers in _ints(args.reader_workers):
                print(f"reader {READER_VERSION}: workers={workers} ...")
                work = runs / f"reader-{workers}"
                results["reader"].append(bench_reader(base, spec, work, reader_py, workers))
    return results


def summary(farms: dict[str, dict[str, Any]]) -> None:
    """Each farm's cold-poll figures and ratios on one line apiece, side by side."""
    print("== cold poll, every farm ==")
    for kind, results in farms.items():
        ours = results["ours"]
        line = f"  {kind:<6} ours {ours['cold_s']:.2f} s (CPU {ours['cold_cpu_s']:.1f} s)"
        base = next((r for r in results["reader"] if r["workers"] == 1), None)
        if base is not None:
            ratio = ours["cold_s"] / base["cold_s"]
            line += (
                f", reader {base['cold_s']:.2f} s (CPU {base['cold_cpu_s']:.1f} s), "
                f"ratio {ratio:.2f} ({_target(ratio, TARGETS['cold'])}), "
                f"CPU ratio {ours['cold_cpu_s'] / max(base['cold_cpu_s'], 1e-9):.2f}"
            )
        if "edited_s" in ours:
            edited = ours["edited_s"]
            line += f"; edited poll {edited:.2f} s, {edited / ours['cold_s']:.2f}x cold"
        print(line)
    print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = [k.strip() for k in args.farms.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise SystemExit(f"--farms: unknown kind(s) {unknown}; choose from {', '.join(KINDS)}")
    WORK.mkdir(parents=True, exist_ok=True)
    reader_py = None if args.no_reader else reader_python()
    results: dict[str, Any] = {
        "feeds": args.feeds,
        "items": args.items,
        "load_before": os.getloadavg()[0],
        "farms": {},
    }
    if results["load_before"] > 0.5:
        print(
            f"note: load average is {results['load_before']:.2f} before the run; "
            "other processes share the CPUs"
        )
    runs = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    try:
        for n, kind in enumerate(kinds):
            shared = bool(args.archive) and n == 0
            results["farms"][kind] = bench_farm(args, kind, reader_py, runs, shared)
    finally:
        if not (args.keep or args.profile):
            shutil.rmtree(runs, ignore_errors=True)
    ok = True
    for kind, farm_results in results["farms"].items():
        farm_results["load_before"] = results["load_before"]
        ok = report(args, kind, farm_results) and ok
    if len(kinds) > 1:
        summary(results["farms"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


if __name__ == "__main__":
    sys.exit(main())
