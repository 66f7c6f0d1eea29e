"""Fault suite: the real service on loopback, under the faults an operator meets.

    python bench/faults.py [--only NAME ...] [--quick]

Each scenario starts `monitor run` as a subprocess (its own folder, archive and config),
with feeds on a loopback server that gain items as time passes (some of them match a
topic) and a loopback webhook receiver that counts every delivery by its message id. Then
it does something bad to the service and checks, from outside, what every user relies on:
every item archived exactly once, every alert delivered (duplicates counted), no process
left behind, the service still working or stopped with a clear message. It prints a table
of fault, outcome and figures; it exits non-zero when a scenario fails.

Scenarios: kills (random SIGKILLs of `monitor run` with items arriving), clock (the wall
clock stepped back and forth an hour, with libfaketime), disk-full (the archive on a small
tmpfs that fills up), archive-deleted, rule-bombs (rule files that used to freeze or
exhaust the service), half-open (idle connections to /healthz).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SECRET = "whsec_" + base64.b64encode(b"fault-suite-webhook-key-32bytes!").decode()
TOPIC_WORD = "harbour"  # every third item has it in its headline, and so an alert


@dataclass(frozen=True, kw_only=True)
class Row:
    fault: str
    ok: bool
    figures: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FeedFarm:
    """Feeds that gain one item every ``period`` seconds each, from ``start`` on."""

    def __init__(self, feeds: int, period: float) -> None:
        self.feeds = feeds
        self.period = period
        self.start = time.time()
        self.frozen: float | None = None  # no new items after this time (the end of a run)
        farm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                try:
                    n = int(self.path.strip("/").removesuffix(".xml").removeprefix("f"))
                except ValueError:
                    self.send_error(404)
                    return
                body = farm.feed(n).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/f{n}.xml"

    def published(self, now: float | None = None) -> int:
        """How many items each feed has published by ``now``."""
        now = self.frozen if self.frozen is not None else (now or time.time())
        return max(0, int((now - self.start) / self.period) + 1)

    def freeze(self) -> None:
        self.frozen = time.time()

    @staticmethod
    def headline(feed: int, k: int) -> str:
        word = TOPIC_WORD if (feed + k) % 3 == 0 else "budget"
        return f"Feed {feed} item {k}: council debates the {word} plan"

    def link(self, feed: int, k: int) -> str:
        return f"https://news{feed}.example/items/{k}"

    def expected(self) -> tuple[set[str], set[str]]:
        """Every item's link published so far, and those that match the topic."""
        links, matching = set(), set()
        for feed in range(self.feeds):
            for k in range(self.published()):
                links.add(self.link(feed, k))
                if TOPIC_WORD in self.headline(feed, k):
                    matching.add(self.link(feed, k))
        return links, matching

    def feed(self, n: int) -> str:
        count = self.published()
        items = []
        for k in range(max(0, count - 20), count):
            stamp = format_datetime(_utc(self.start + k * self.period), usegmt=True)
            items.append(
                f"<item><title>{self.headline(n, k)}</title><link>{self.link(n, k)}</link>"
                f"<guid>feed{n}-item{k}</guid><pubDate>{stamp}</pubDate>"
                f"<description>The council met on day {k} to debate the plan for the "
                f"town, officials of feed {n} said.</description></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {n}</title><link>https://news{n}.example/</link>"
            f"<description>fault suite</description>{''.join(reversed(items))}</channel></rss>"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _utc(t: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC)


class Receiver:
    """A webhook receiver: checks each signature and counts deliveries by message id."""

    def __init__(self, delay: float = 0.0) -> None:
        self.ids: Counter[str] = Counter()
        self.links: Counter[str] = Counter()  # story links, as the payloads name them
        self.bad = 0
        self.delay = delay
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.delay:
                    time.sleep(receiver.delay)  # a slow receiver: kills land inside POSTs
                msg_id = self.headers.get("webhook-id", "")
                stamp = self.headers.get("webhook-timestamp", "")
                key = base64.b64decode(SECRET.removeprefix("whsec_"))
                signed = f"{msg_id}.{stamp}.".encode() + body
                want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
                given = [
                    s.split(",", 1)[-1] for s in self.headers.get("webhook-signature", "").split()
                ]
                with receiver.lock:
                    if not any(hmac.compare_digest(want, g) for g in given):
                        receiver.bad += 1
                    receiver.ids[msg_id] += 1
                    with contextlib.suppress(ValueError):
                        for item in json.loads(body).get("items", []):
                            receiver.links[str(item.get("url") or item.get("link"))] += 1
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.ids.values() if n > 1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Lab:
    """One scenario's folder, config, servers and service process."""

    def __init__(
        self,
        name: str,
        *,
        feeds: int = 10,
        period: float = 1.0,
        receiver_delay: float = 0.0,
        archive_dir: Path | None = None,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
        self.farm = FeedFarm(feeds, period)
        self.receiver = Receiver(receiver_delay)
        self.metrics_port = free_port()
        self.archive_dir = archive_dir or self.root / "archive"
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        self.db = self.archive_dir / "monitor.db"
        (self.root / "rules").mkdir()
        (self.root / "rules" / "topics.toml").write_text(
            f"[[topic]]\nname = 'harbour'\nquery = '{TOPIC_WORD}'\nnotify = ['hook']\n",
            encoding="utf-8",
        )
        self.config = self.root / "config.toml"
        lines = [
            "[archive]",
            f'url = "sqlite:///{self.db}"',
            "",
            "[schedule]",
            'default_interval = "1s"',
            'min_interval = "1s"',
            'backlog_alerts = "all"',
            "",
            "[service]",
            'tick = "1s"',
            f"metrics_port = {self.metrics_port}",
            "",
            "[notifiers.hook]",
            'type = "webhook"',
            f'url = "{self.receiver.url}"',
            'secret_env = "FAULTS_HOOK_SECRET"',
            "",
        ]
        for n in range(feeds):
            lines += ["[[feeds]]", f'url = "{self.farm.url(n)}"', f'name = "Feed {n}"', ""]
        self.config.write_text("\n".join(lines), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = self.root / "stderr.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["FAULTS_HOOK_SECRET"] = SECRET
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def start(self, prefix: list[str] | None = None, **env: str) -> subprocess.Popen[bytes]:
        command = [*(prefix or []), sys.executable, "-m", "monitor", "run", "--config",
                   str(self.config)]  # fmt: skip
        with self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(
                command, env={**self.env(), **env}, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True,
            )  # fmt: skip
        return self.proc

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def archived(self) -> Counter[str]:
        """Stories per item link, read from the archive (read-only)."""
        if not self.db.exists():
            return Counter()
        uri = f"file:{self.db}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
            rows = db.execute("SELECT link FROM story_sources").fetchall()
        return Counter(str(r[0]) for r in rows)

    def settle(self, timeout: float = 60.0) -> bool:
        """Stop new items, then wait until every item is archived and every alert delivered."""
        self.farm.freeze()
        links, matching = self.farm.expected()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            archived = self.archived()
            delivered = set(self.receiver.links)
            if links <= set(archived) and matching <= delivered:
                return True
            time.sleep(0.5)
        return False

    def healthz(self) -> int:
        import urllib.request

        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=5
            ) as response:
                return int(response.status)
        except OSError as exc:
            return int(getattr(exc, "code", 0) or 0)

    def close(self) -> None:
        self.kill()
        self.farm.close()
        self.receiver.close()
        shutil.rmtree(self.root, ignore_errors=True)


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions ``text`` (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry))
    return found


@contextlib.contextmanager
def lab(name: str, **kwargs: Any) -> Iterator[Lab]:
    made = Lab(name, **kwargs)
    try:
        yield made
    finally:
        made.close()


# -- scenarios ------------------------------------------------------------------------------


def scenario_kills(quick: bool) -> Row:
    """Random SIGKILLs of `monitor run` while items arrive and a slow receiver takes POSTs."""
    kills = 8 if quick else 30
    rng = random.Random(7)
    with lab("kills", feeds=10, period=1.0, receiver_delay=0.2) as it:
        for _ in range(kills):
            it.start()
            time.sleep(rng.uniform(0.5, 4.0))
            it.kill()
        it.start()
        settled = it.settle(timeout=90)
        it.stop()
        archived = it.archived()
        links, matching = it.farm.expected()
        twice = sum(n - 1 for n in archived.values() if n > 1)
        missing = len(links - set(archived))
        undelivered = len(matching - set(it.receiver.links))
        duplicates = it.receiver.duplicates()
        time.sleep(2)
        orphans = len(processes_mentioning(str(it.config)))
    ok = settled and not twice and not missing and not undelivered and not orphans
    figures = (
        f"{kills} kills; {len(links)} items: {missing} missing, {twice} archived twice; "
        f"{len(matching)} alerts: {undelivered} undelivered, {duplicates} duplicate POSTs "
        f"(same ids); {orphans} processes left"
    )
    return Row(fault="SIGKILL of monitor run", ok=ok, figures=figures)


def _progress(it: Lab, seconds: float) -> tuple[int, int]:
    """Items archived and alerts delivered during the next ``seconds``."""
    archived, delivered = sum(it.archived().values()), it.receiver.ids.total()
    time.sleep(seconds)
    return sum(it.archived().values()) - archived, it.receiver.ids.total() - delivered


def scenario_clock(quick: bool) -> Row:
    """The wall clock stepped back an hour, then forward again, with libfaketime."""
    sys.path.insert(0, str(REPO))
    from tests.faketime import SITE, library

    lib = library()
    if lib is None:
        return Row(fault="clock step (libfaketime)", ok=False,
                   figures="libfaketime is not installed (apt-get install faketime)")  # fmt: skip
    # A process under libfaketime runs several times slower (it reads the offset file at
    # every clock read): the windows are long enough for a few polls even so.
    window = 20.0 if quick else 30.0
    with lab("clock", feeds=5, period=1.0) as it:
        offset = it.root / "faketime.rc"
        offset.write_text("+0\n")
        env = {
            "LD_PRELOAD": str(lib),
            "FAKETIME_TIMESTAMP_FILE": str(offset),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": os.pathsep.join([str(SITE), str(REPO)]),
        }
        it.start(**env)
        time.sleep(5)
        steps = []
        for label, value in (
            ("back 1 h", "-3600"),
            ("forward again", "+0"),
            ("ahead 1 h", "+3600"),
        ):
            draft = offset.with_suffix(".tmp")
            draft.write_text(value + "\n")
            os.replace(draft, offset)
            archived, delivered = _progress(it, window)
            steps.append((label, archived, delivered, it.healthz()))
        # Nothing lost: the rest is archived and alerted by the service without libfaketime
        # (which slows a process several times over).
        code = it.stop()
        it.start()
        settled = it.settle(timeout=90)
        it.stop()
    ok = settled and code == 0 and all(a > 0 and d > 0 for _, a, d, _ in steps)
    figures = "; ".join(
        f"{label}: {a} items archived, {d} alerts sent in {window:.0f} s, /healthz {h}"
        for label, a, d, h in steps
    )
    return Row(fault="clock step (libfaketime)", ok=ok, figures=figures)


def _mount_tmpfs(where: Path, size: str) -> str | None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True, text=True,
    )  # fmt: skip
    return None if done.returncode == 0 else (done.stderr.strip() or "mount failed")


def _fill(directory: Path) -> Path:
    path = directory / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        chunk = 1 << 20
        while chunk:
            try:
                os.write(fd, bytes(chunk))
            except OSError:
                chunk //= 2
    finally:
        os.close(fd)
    return path


def scenario_disk_full(quick: bool) -> Row:
    """The archive's disk fills up while items arrive, then space is freed."""
    disk = Path(tempfile.mkdtemp(prefix="faults-disk-"))
    problem = _mount_tmpfs(disk, "16m")
    if problem:
        return Row(fault="disk full", ok=False, figures=f"cannot mount a tmpfs: {problem}")
    # Each feed keeps its last 20 items, one every 2 s: 40 s of news, longer than the disk
    # stays full, as a real feed's window is longer than an outage someone fixes.
    full_for = 10.0 if quick else 25.0
    try:
        with lab("disk", feeds=5, period=2.0, archive_dir=disk / "archive") as it:
            it.start()
            time.sleep(5)
            filler = _fill(disk)
            time.sleep(full_for)
            filler.unlink()
            settled = it.settle(timeout=90)
            code = it.stop()
            archived = it.archived()
            links, matching = it.farm.expected()
            stderr = it.stderr.read_text(errors="replace")
            tracebacks = stderr.count("Traceback (most recent call last)")
            missing = len(links - set(archived))
            twice = sum(n - 1 for n in archived.values() if n > 1)
            undelivered = len(matching - set(it.receiver.links))
            duplicates = it.receiver.duplicates()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)
    ok = settled and code == 0 and not missing and not twice and not undelivered
    ok = ok and not duplicates and not tracebacks
    figures = (
        f"full for {full_for:.0f} s: {len(links)} items, {missing} missing, {twice} twice; "
        f"{len(matching)} alerts, {undelivered} undelivered, {duplicates} duplicate POSTs; "
        f"{tracebacks} tracebacks; exit {code}"
    )
    return Row(fault="disk full", ok=ok, figures=figures)


def scenario_archive_deleted(quick: bool) -> Row:
    """The archive file deleted while the service runs."""
    with lab("deleted", feeds=3, period=1.0) as it:
        proc = it.start()
        time.sleep(4)
        it.db.unlink()
        started = time.monotonic()
        try:
            code: int | None = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
        stderr = it.stderr.read_text(errors="replace")
        said = [x for x in stderr.splitlines() if "archive" in x.lower() and "Traceback" not in x]
        line = said[-1] if said else ""
        restarted = it.start()
        try:
            again: int | None = restarted.wait(timeout=30)
        except subprocess.TimeoutExpired:
            again = None
        recreated = it.db.exists()
        tracebacks = it.stderr.read_text(errors="replace").count("Traceback")
    ok = code not in (None, 0) and bool(line) and again not in (None, 0) and not recreated
    ok = ok and not tracebacks
    figures = (
        f"stopped after {took:.1f} s with exit {code}: {line.strip()[:90]!r}; a restart "
        f"{'refused' if again not in (None, 0) else 'ran'} and "
        f"{'made a new archive' if recreated else 'made none'}; {tracebacks} tracebacks"
    )
    return Row(fault="archive deleted", ok=ok, figures=figures)


def _alias_bomb(levels: int) -> str:
    lines = ["[aliases]"]
    lines += [f"A{i} = '" + " OR ".join([f"@A{i + 1}"] * 4) + "'" for i in range(levels)]
    lines += [f"A{levels} = 'x'", "", "[[topic]]", "name = 'bomb'", "query = '@A0'",
              "notify = ['hook']", ""]  # fmt: skip
    return "\n".join(lines)


def scenario_rule_bombs(quick: bool) -> Row:
    """Rule files that froze or exhausted the service: an alias bomb, a deep chain, a
    thousand errors; polls and alerts must go on and SIGTERM must be answered."""
    import resource

    chain = ["[aliases]", *(f"B{i} = '@B{i + 1}'" for i in range(400)), "B400 = 'y'", ""]
    chain += ["[[topic]]", "name = 'chain'", "query = '@B0 AND harbour'", "notify = ['hook']"]
    errors = "".join(
        f"[[topic]]\nname = 'err {i}'\nquery = '@missing{i % 7} harbour'\nnotify = ['hook']\n\n"
        for i in range(2000)
    )
    with lab("bombs", feeds=5, period=1.0) as it:
        proc = it.start()
        time.sleep(4)
        rules = it.root / "rules"
        (rules / "bomb.toml").write_text(_alias_bomb(13), encoding="utf-8")
        (rules / "chain.toml").write_text("\n".join(chain), encoding="utf-8")
        (rules / "errors.toml").write_text(errors, encoding="utf-8")
        archived, delivered = _progress(it, 10.0 if quick else 20.0)
        status = subprocess.run(
            [sys.executable, "-m", "monitor", "status", "--config", str(it.config)],
            env=it.env(), capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
        reload_errors = status.count("reload error")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
            proc.kill()
        took = time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ok = archived > 0 and delivered > 0 and reload_errors > 0 and code == 0 and took < 30
    figures = (
        f"while they loaded: {archived} items archived, {delivered} alerts sent; status shows "
        f"{reload_errors} reload errors; SIGTERM answered in {took:.1f} s (exit {code}); "
        f"peak {peak_mb:.0f} MB"
    )
    return Row(fault="rule bombs", ok=ok, figures=figures)


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def scenario_half_open(quick: bool) -> Row:
    """Hundreds of idle connections to /healthz."""
    with lab("halfopen", feeds=5, period=1.0) as it:
        proc = it.start()
        time.sleep(4)
        before = _fds(proc.pid)
        sockets = []
        for _ in range(200):
            with contextlib.suppress(OSError):
                sockets.append(socket.create_connection(("127.0.0.1", it.metrics_port), 5))
        archived, delivered = _progress(it, 10.0)
        during = _fds(proc.pid)
        health = it.healthz()
        for s in sockets:
            s.close()
        code = it.stop()
    ok = archived > 0 and delivered > 0 and health == 200 and during - before < 40 and code == 0
    figures = (
        f"200 idle connections: fds {before} -> {during}; meanwhile {archived} items "
        f"archived, {delivered} alerts sent; /healthz {health}; exit {code}"
    )
    return Row(fault="half-open connections", ok=ok, figures=figures)


SCENARIOS: dict[str, Callable[[bool], Row]] = {
    "kills": scenario_kills,
    "clock": scenario_clock,
    "disk-full": scenario_disk_full,
    "archive-deleted": scenario_archive_deleted,
    "rule-bombs": scenario_rule_bombs,
    "half-open": scenario_half_open,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--quick", action="store_true", help="fewer kills and shorter runs")
    args = parser.parse_args()
    rows = []
    for name, run in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        started = time.monotonic()
        try:
            row = run(args.quick)
        except Exception as exc:  # a broken scenario is a failed row, not a crashed suite
            row = Row(fault=name, ok=False, figures=f"scenario crashed: {exc!r}")
        rows.append(row)
        print(f"{'ok  ' if row.ok else 'FAIL'} {row.fault} ({time.monotonic() - started:.0f} s)")
    width = max(len(r.fault) for r in rows) if rows else 10
    print()
    print(f"{'fault':<{width}}  outcome  figures")
    for r in rows:
        print(f"{r.fault:<{width}}  {'ok' if r.ok else 'FAIL':<7}  {r.figures}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
