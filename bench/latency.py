"""Alert latency and idle cost of ``monitor run``.

    python bench/latency.py [--items 100] [--feeds 1000] [--quick]

1. Latency. Starts ``python -m monitor run`` in a temporary folder (its own
   config.toml, a copy of the repo's rules/, the archive inside) with one feed at
   ``interval = "1s"`` and a webhook notifier. Both the feed and the webhook
   receiver are served on 127.0.0.1 by this process. Items are added to the feed
   one at a time, 0.3-2 s apart at random, each with its own text matching the
   shipped "human rights dialogue" topic. For each item it measures the time from
   the moment the feed started serving it to the moment its webhook arrived
   (``time.time()`` on both sides, in this one process), and splits it at the
   first fetch that returned the item: waiting to be polled, then the service's
   own work (fetch, parse, match, archive, deliver). Target: p95 within the
   interval plus 0.5 s.

2. Idle cost. Starts ``monitor run`` with ``--feeds`` small static feeds (default
   interval, 15 minutes; 3 items each), waits until every feed has been requested
   and no request has come for 5 s (the first poll is over), reads the archive to
   check that it left every feed healthy and every story stored, then measures the
   CPU time (/proc/<pid>/stat, the process and all its descendants) and memory
   (VmRSS, and PSS where /proc/<pid>/smaps_rollup allows) of the service over 60 s
   (30 s with ``--quick``, which also uses 200 feeds and 12 items).

Prints figures and targets; never fails on a time, only when something is wrong
(an alert lost or doubled, a feed left failing by the first poll, the service
exiting early or not cleanly on SIGTERM). Every child process is
stopped on exit, Ctrl-C or error; nothing but 127.0.0.1 is contacted.
``--tick`` and ``--deliver-every`` set the [service] keys (default: the shipped
defaults, 1 s and 5 s); ``--keep`` keeps the temporary folders and the service
logs (run at -vv, debug level) for a closer look.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
INTERVAL = 1.0  # the live feed's poll interval
SLACK = 0.5  # the target: p95 <= INTERVAL + SLACK
QUIET = 5.0  # seconds without a feed request: the first poll of the idle feeds is over
WINDOW = 20  # items a feed shows, newest first, like a real feed
SECRET = "whsec_" + base64.b64encode(b"latency-bench-secret-0123456789ab").decode()
TOPIC = "human rights dialogue"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class Stop(Exception):
    """SIGTERM to the benchmark: unwind and clean up like Ctrl-C."""


# -- item texts ---------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


CITIES = _words(
    "Geneva Vienna Oslo Lima Accra Hanoi Nairobi Quito Tbilisi Dakar Bern Riga Tunis Manila "
    "Lusaka Bogota Ankara Doha Kigali Montevideo Tallinn Windhoek Valletta Yerevan Suva"
)
WEEKDAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
AGREE = ("agreed to resume", "decided to hold", "plan to reopen", "will resume", "agreed to hold")
WORDS = _words(
    "harvest river port ship airline factory union wages budget tax hospital school museum "
    "festival bridge railway tunnel reactor battery satellite forest glacier wheat coffee "
    "cattle pension insurance bond currency stocks merger startup chip rocket planet reef "
    "storm flood drought heatwave tram metro highway runway hotel retailer supermarket cargo "
    "container pipeline refinery turbine truck bus passengers tourists farmers teachers "
    "students doctors nurses rescuers volunteers residents shoppers investors analysts "
    "quarter profit revenue forecast season match coach player championship exhibition film "
    "author book century telescope species wildlife ocean emissions recycling landfill "
    "earthquake hurricane rainfall temperature crops rice fisheries clinic therapy salary "
    "contract deadline proposal draft framework guidelines standards inspection audit"
)


def item_text(n: int, rng: random.Random) -> tuple[str, str]:
    """A headline and body matching the topic, different enough from every other item."""
    city, other = rng.sample(CITIES, 2)
    day = rng.choice(WEEKDAYS)
    headline = f"{city} envoys {rng.choice(AGREE)} rights talks (report {n})"
    lead = (
        f"Officials in {city} said on {day} that the two governments {rng.choice(AGREE)} "
        f"their human rights dialogue in {other} after a pause of {rng.randint(2, 40)} months."
    )
    filler = []
    for _ in range(4):  # unrelated sentences: near-duplicate detection must not join items
        words = rng.sample(WORDS, 12)
        filler.append(" ".join(words).capitalize() + f" {rng.randint(10, 9999)}.")
    return headline, " ".join([lead, *filler])


def static_text(n: int, k: int) -> tuple[str, str]:
    """Idle feeds: items that match no shipped topic."""
    headline = f"District {n} weather note {k}"
    body = f"Light rain is expected in district {n} on day {k}, with {n % 17 + k} mm at most."
    return headline, body


def rss(title: str, base: str, items: list[tuple[str, str, str, datetime]]) -> bytes:
    """An RSS 2.0 document; items are (guid, headline, body, published)."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{base}/</link><description>bench</description>"
    ]
    for guid, headline, body, published in items:
        parts.append(
            f"<item><title>{escape(headline)}</title><link>{base}/story/{guid}</link>"
            f'<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
            f"<description>{escape(body)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


# -- the loopback server: live feed, static feeds, webhook receiver ------------------------------


@dataclass
class Item:
    n: int
    guid: str
    headline: str
    body: str
    published: datetime
    visible: float = 0.0  # time.time() when the feed started serving it
    fetched: float | None = None  # first fetch that returned it
    arrived: float | None = None  # its webhook


@dataclass
class Loopback:
    """Feeds and a webhook receiver on 127.0.0.1, on one threaded HTTP server."""

    static_feeds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    items: list[Item] = field(default_factory=list)
    by_link: dict[str, Item] = field(default_factory=dict)
    live_gets: list[tuple[float, int, int]] = field(default_factory=list)  # (t, status, n shown)
    static_gets: int = 0
    static_seen: set[str] = field(default_factory=set)
    static_last: float = 0.0  # time.monotonic() of the latest static feed request
    hooks: list[tuple[float, str, list[str]]] = field(default_factory=list)  # (t, topic, links)
    bad_hooks: int = 0
    _live: tuple[bytes, str] = (b"", "")
    _static: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> Loopback:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.get(self)

            def do_POST(self) -> None:
                owner.post(self)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.request_queue_size = 256
        self._publish()
        published = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
        for n in range(self.static_feeds):
            entries = [(f"s{n}-{k}", *static_text(n, k), published) for k in range(3)]
            body = rss(f"Static {n}", self.base, entries)
            self._static[f"/static/{n}.xml"] = (body, _etag(body))
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def _publish(self) -> None:  # with the lock held (or before serving)
        shown = self.items[-WINDOW:][::-1]
        body = rss("Live", self.base, [(i.guid, i.headline, i.body, i.published) for i in shown])
        self._live = (body, _etag(body))

    def add(self, n: int, headline: str, body: str) -> Item:
        item = Item(
            n=n, guid=f"live-{n}", headline=headline, body=body, published=datetime.now(UTC)
        )
        with self.lock:
            self.items.append(item)
            self.by_link[f"{self.base}/story/{item.guid}"] = item
            self._publish()
            item.visible = time.time()  # a GET from now on serves it
        return item

    def get(self, handler: BaseHTTPRequestHandler) -> None:
        t = time.time()
        path = handler.path.split("?", 1)[0]
        if path == "/live.xml":
            with self.lock:
                body, etag = self._live
                shown = len(self.items)
                status = 304 if handler.headers.get("If-None-Match") == etag else 200
                self.live_gets.append((t, status, shown))
                if status == 200:
                    for item in self.items[-WINDOW:]:
                        if item.fetched is None:
                            item.fetched = t
        elif path in self._static:
            body, etag = self._static[path]
            status = 304 if handler.headers.get("If-None-Match") == etag else 200
            with self.lock:
                self.static_gets += 1
                self.static_seen.add(path)
                self.static_last = time.monotonic()
        else:
            body, etag, status = b"no such feed", "", 404
        handler.send_response(status)
        if etag:
            handler.send_header("ETag", etag)
        if status == 304:
            handler.end_headers()
            return
        handler.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def post(self, handler: BaseHTTPRequestHandler) -> None:
        t = time.time()  # the webhook has arrived: its request line and headers are in
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        ok = _signed(handler.headers, body)
        with self.lock:
            if not ok:
                self.bad_hooks += 1
            else:
                data = json.loads(body)
                links = [i["url"] for i in data.get("items", [])]
                self.hooks.append((t, data.get("topic", ""), links))
                for link in links:
                    item = self.by_link.get(link)
                    if item is not None and item.arrived is None and data["topic"] == TOPIC:
                        item.arrived = t
        handler.send_response(204 if ok else 401)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
            super().handle_error(request, client_address)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:20] + '"'


def _signed(headers: Any, body: bytes) -> bool:
    """Standard Webhooks signature check, as a real receiver would do."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[-1] for s in (headers["webhook-signature"] or "").split()]
    return any(hmac.compare_digest(expected, g) for g in given)


# -- the service under test ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    """No proxies (only 127.0.0.1 is contacted); the webhook secret from the environment."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["BENCH_HOOK_SECRET"] = SECRET
    return env


class Service:
    """``monitor run`` in its own folder and session; always stopped by ``close``."""

    def __init__(self, workdir: Path, config: str, *, debug: bool = False) -> None:
        self.workdir = workdir
        shutil.copytree(REPO / "rules", workdir / "rules")
        self.config = workdir / "config.toml"
        self.config.write_text(config, encoding="utf-8")
        self.log_path = workdir / "service.log"
        self._log = self.log_path.open("wb")
        verbose = ["-vv"] if debug else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", *verbose, "run", "--config", str(self.config)],
            cwd=workdir,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: forkserver and workers included
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"monitor run exited early (code {self.proc.returncode}); log:\n{self.tail()}"
            )

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> int | None:
        """SIGTERM, then SIGKILL to the whole group if it does not exit in time."""
        code = None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(timeout=15)
        else:
            code = self.proc.returncode
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of its group, if any
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        self._log.close()
        return code


def wait_until(condition: Callable[[], bool], timeout: float, what: str, svc: Service) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        svc.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


# -- /proc ---------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, CPU seconds incl. reaped children) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return int(fields[1]), (utime + stime + cutime + cstime) / CLK_TCK


def tree(root: int) -> list[int]:
    """The process and all its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                parents.setdefault(info[0], []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def cpu_seconds(root: int) -> dict[int, float]:
    out = {}
    for pid in tree(root):
        info = _stat(pid)
        if info is not None:
            out[pid] = info[1]
    return out


def memory_kb(pid: int) -> tuple[int, int | None]:
    """(VmRSS, Pss) in KiB; Pss None when smaps_rollup cannot be read."""
    rss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return rss, None
    found = re.search(r"^Pss:\s+(\d+)", text, re.M)
    return rss, int(found.group(1)) if found else None


# -- figures -------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"median {pct(values, 50):5.2f} s   p95 {pct(values, 95):5.2f} s   "
        f"max {max(values):5.2f} s   (n={len(values)})"
    )


# -- 1. latency ----------------------------------------------------------------------------------


def latency(args: argparse.Namespace, stack: contextlib.ExitStack) -> bool:
    server = Loopback().start()
    stack.callback(server.stop)
    work = Path(tempfile.mkdtemp(prefix="monitor-latency-"))
    if not args.keep:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
    config = f"""
[archive]
url = "sqlite:///archive/monitor.db"

[service]
tick = {args.tick}
deliver_every = {args.deliver_every}
grace = "5s"

[notifiers.hook]
type = "webhook"
url = "{server.base}/hook"
secret_env = "BENCH_HOOK_SECRET"
timeout = "5s"

[[feeds]]
url = "{server.base}/live.xml"
name = "Live"
interval = "{INTERVAL:g}s"
"""
    print(
        f"latency: 1 feed, interval {INTERVAL:g} s; [service] tick = {args.tick:g} s, "
        f"deliver_every = {args.deliver_every:g} s; {args.items} items 0.3-2 s apart"
    )
    rng = random.Random(args.seed)
    svc = Service(work, config, debug=args.keep)
    stack.callback(svc.close)
    started = time.time()
    wait_until(lambda: bool(server.live_gets), 60, "the first poll of the live feed", svc)
    first_poll = server.live_gets[0][0] - started
    warm = server.add(0, *item_text(0, rng))  # imports, connections: not counted
    wait_until(lambda: warm.arrived is not None, 30, "the warm-up alert", svc)
    assert warm.arrived is not None
    print(
        f"  started: first poll {first_poll:.2f} s after launch; "
        f"warm-up item alerted in {warm.arrived - warm.visible:.2f} s (not counted)"
    )
    measured: list[Item] = []
    for n in range(1, args.items + 1):
        time.sleep(rng.uniform(0.3, 2.0))
        svc.check()
        measured.append(server.add(n, *item_text(n, rng)))
    with contextlib.suppress(RuntimeError):
        wait_until(lambda: all(i.arrived for i in measured), 15, "the last alerts", svc)
    time.sleep(0.5)  # a late duplicate would show up now

    done = [i for i in measured if i.arrived is not None and i.fetched is not None]
    missing = [i.n for i in measured if i.arrived is None]
    total = [i.arrived - i.visible for i in done if i.arrived]
    waiting = [i.fetched - i.visible for i in done if i.fetched]
    working = [i.arrived - i.fetched for i in done if i.arrived and i.fetched]
    gets = [t for t, _, _ in server.live_gets if t >= measured[0].visible - 5]
    gaps = [b - a for a, b in itertools.pairwise(gets)]
    alerts = sum(1 for _, topic, _ in server.hooks if topic == TOPIC)
    print(f"  item visible -> webhook arrived:   {summary(total)}")
    print(f"    visible -> first fetch of it:    {summary(waiting)}")
    print(f"    that fetch -> webhook arrived:   {summary(working)}")
    print(f"  live feed polled every:            {summary(gaps)}")
    target = INTERVAL + SLACK
    ok = bool(total) and pct(total, 95) <= target
    print(
        f"  target p95 <= interval + {SLACK:g} s = {target:g} s: "
        f"{'ok' if ok else 'MISSED'} (p95 {pct(total, 95) if total else float('nan'):.2f} s)"
    )
    if not ok and gaps and pct(gaps, 50) > INTERVAL + 0.5 * args.tick:
        print(
            f"  note: the feed is fetched every {pct(gaps, 50):.2f} s (median), not every "
            f"{INTERVAL:g} s: most of the latency is waiting for the next poll (a feed falls "
            "due an interval after its last poll ended, just after a tick, and waits for the "
            "tick after that)"
        )
    sane = not missing and server.bad_hooks == 0 and alerts == len(measured) + 1
    if missing:
        print(f"  ERROR: {len(missing)} items never alerted: {missing[:20]}")
    if server.bad_hooks:
        print(f"  ERROR: {server.bad_hooks} webhooks with a bad signature")
    if alerts != len(measured) + 1:
        print(f"  ERROR: {alerts} alerts for {len(measured) + 1} items (doubled or lost)")
    code = svc.close()
    if code != 0:
        print(f"  ERROR: monitor run exited with {code} on SIGTERM; log:\n{svc.tail()}")
        sane = False
    if args.keep:
        print(f"  kept: {work} (service.log at debug level)")
    return sane


# -- 2. idle cost --------------------------------------------------------------------------------


def polls_done(port: int) -> int:
    try:
        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0
    found = re.findall(r'^monitor_feed_polls_total\{outcome="[a-z]+"\} (\S+)$', text, re.M)
    return int(sum(float(x) for x in found))


def feed_health(db_path: Path) -> dict[str, Any]:
    """Feed states straight from the archive (read-only): what the first poll left behind."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        ok, failing, never = db.execute(
            "SELECT sum(error_count = 0 AND last_success IS NOT NULL), sum(error_count > 0), "
            "sum(last_success IS NULL) FROM feeds"
        ).fetchone()
        stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
        errors = db.execute(
            "SELECT last_error, count(*) FROM feeds WHERE error_count > 0 "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
        ).fetchall()
    finally:
        db.close()
    return {"ok": ok, "failing": failing, "never": never, "stories": stories, "errors": errors}


def idle(args: argparse.Namespace, stack: contextlib.ExitStack) -> bool:
    server = Loopback(static_feeds=args.feeds).start()
    stack.callback(server.stop)
    work = Path(tempfile.mkdtemp(prefix="monitor-idle-"))
    if not args.keep:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
    port = free_port()
    feeds = "".join(
        f'\n[[feeds]]\nurl = "{server.base}/static/{n}.xml"\nname = "Static {n}"\n'
        for n in range(args.feeds)
    )
    config = f"""
[archive]
url = "sqlite:///archive/monitor.db"

[service]
tick = {args.tick}
deliver_every = {args.deliver_every}
grace = "5s"
metrics_port = {port}
{feeds}"""
    seconds = 30.0 if args.quick else 60.0
    print(
        f"idle: {args.feeds} feeds (default interval 15m, 3 items each); "
        f"[service] tick = {args.tick:g} s, deliver_every = {args.deliver_every:g} s"
    )
    svc = Service(work, config, debug=args.keep)
    stack.callback(svc.close)
    if args.keep:
        print(f"  service pid {svc.pid}, folder {work}", flush=True)
    started = time.monotonic()
    wait_until(
        lambda: len(server.static_seen) == args.feeds,
        300,
        "a request for every feed",
        svc,
    )
    cold = time.monotonic() - started
    first = server.static_gets
    # The first poll is over when the feeds have been quiet for a while.
    wait_until(
        lambda: time.monotonic() - server.static_last > QUIET, 300, "the feeds to go quiet", svc
    )
    quiet = time.monotonic() - started - QUIET
    print(
        f"  every feed requested {cold:.1f} s after launch ({first} requests); the last "
        f"request {quiet:.1f} s after launch ({server.static_gets} requests in all, "
        f"{args.feeds} expected); /metrics counts {polls_done(port)} feed polls"
    )
    health = feed_health(work / "archive" / "monitor.db")
    print(
        f"  archive after the first poll: {health['ok']} feeds ok, {health['failing']} failing, "
        f"{health['never']} never polled successfully, {health['stories']} stories "
        f"({3 * args.feeds} expected)"
    )
    for error, count in health["errors"]:
        print(f"    {count:4d} feeds failing with: {error}")
    sane = bool(health["failing"] == 0 and health["stories"] == 3 * args.feeds)
    if not sane:
        print("  ERROR: the first poll left feeds failing or stories missing (see above)")
    gets_before = server.static_gets
    before = cpu_seconds(svc.pid)
    t0 = time.monotonic()
    samples: list[tuple[int, int, int, int]] = []  # main rss, total rss, total pss, processes
    while time.monotonic() - t0 < seconds:
        svc.check()
        pids = tree(svc.pid)
        mem = [memory_kb(p) for p in pids]
        pss = sum(p or r for r, p in mem)
        samples.append((mem[0][0], sum(r for r, _ in mem), pss, len(pids)))
        time.sleep(min(5.0, max(0.0, seconds - (time.monotonic() - t0))))
    wall = time.monotonic() - t0
    after = cpu_seconds(svc.pid)
    main_cpu = after.get(svc.pid, 0.0) - before.get(svc.pid, 0.0)
    children = sum(v - before.get(p, 0.0) for p, v in after.items() if p != svc.pid)
    main_rss, total_rss, total_pss, processes = samples[-1]
    peak_rss = max(s[1] for s in samples)
    print(
        f"  idle CPU over {wall:.0f} s: {100 * (main_cpu + children) / wall:.2f} % of one core "
        f"(main {100 * main_cpu / wall:.2f} %, {processes - 1} child processes "
        f"{100 * children / wall:.2f} %)"
    )
    print(
        f"  memory: main RSS {main_rss / 1024:.0f} MB; with children RSS {total_rss / 1024:.0f} MB "
        f"(peak {peak_rss / 1024:.0f} MB), PSS {total_pss / 1024:.0f} MB "
        f"({processes} processes)"
    )
    polls = server.static_gets - gets_before
    print(f"  feed requests while idle: {polls} (expected 0 with a 15m interval)")
    code = svc.close()
    if code != 0:
        print(f"  ERROR: monitor run exited with {code} on SIGTERM; log:\n{svc.tail()}")
        sane = False
    if args.keep:
        print(f"  kept: {work} (service.log at debug level)")
    return sane


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--items", type=int, default=None, help="items to time (default 100; quick 12)")
    p.add_argument(
        "--feeds", type=int, default=None, help="feeds for the idle part (default 1000; quick 200)"
    )
    p.add_argument("--quick", action="store_true", help="fewer items, 30 s idle: under a minute")
    p.add_argument("--tick", type=float, default=1.0, help="[service] tick, seconds (default 1)")
    p.add_argument(
        "--deliver-every", type=float, default=5.0, help="[service] deliver_every (default 5)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", choices=("latency", "idle"), help="run one part only")
    p.add_argument("--keep", action="store_true", help="keep the temporary folders and logs")
    args = p.parse_args(argv)
    if args.items is None:
        args.items = 12 if args.quick else 100
    if args.feeds is None:
        args.feeds = 200 if args.quick else 1000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise Stop

    signal.signal(signal.SIGTERM, on_term)
    ok = True
    try:
        with contextlib.ExitStack() as stack:
            if args.only in (None, "latency"):
                ok = latency(args, stack) and ok
                stack.close()
            if args.only in (None, "idle"):
                ok = idle(args, stack) and ok
    except (KeyboardInterrupt, Stop):
        print("interrupted; every child process stopped", file=sys.stderr)
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
