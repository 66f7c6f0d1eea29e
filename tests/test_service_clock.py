"""The service across steps of the wall clock, stalls of its scheduler, and killed processes.

The real ``monitor run``/``monitor poll``/``monitor deliver`` as subprocesses against
loopback servers (the helpers of ``test_service_e2e``). The wall clock is stepped with
libfaketime (``tests/faketime.py``), as ``date -s`` would: the monotonic clock runs on.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from monitor.archive.sqlite import SQLiteArchive
from monitor.cli.main import main
from tests.builders import LiveFeed
from tests.faketime import SteppedClock
from tests.feedserver import FeedServer, Request, Response
from tests.procs import alive, wait_for, wait_until, workers_below
from tests.servers import SECRET, Mailbox, Receiver
from tests.test_service_e2e import env as env  # the fixture, through ``service`` below
from tests.test_service_e2e import stop, topics

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
Env = tuple[Path, LiveFeed, Receiver, Mailbox, int]
HOUR = 3600
TALKS = "Officials said the two governments would resume their dialogue on human rights"


@pytest.fixture
def service(request: pytest.FixtureRequest) -> Env:
    """test_service_e2e's config (ticks of 200 ms, a live feed polled every second), webhook
    receiver, mailbox and metrics port."""
    return cast(Env, request.getfixturevalue("env"))


def health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_polling_and_delivery_go_on_across_steps_of_the_wall_clock(
    service: Env, feed_server: FeedServer, tmp_path: Path
) -> None:
    config, feed, receiver, box, metrics_port = service
    clock = SteppedClock(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        env={**os.environ, "HOOK_SECRET": SECRET, **clock.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    headlines = [
        "Envoys Agree to Resume Rights Talks",
        "Envoys Plan to Resume Rights Talks",  # an hour back
        "Envoys Decide to Resume Rights Talks",  # and forward again
        "Envoys Hold Rights Talks Again",  # an hour ahead of the real time
    ]
    try:
        for n, (headline, offset) in enumerate(zip(headlines, (0, -HOUR, 0, HOUR), strict=True)):
            clock.set(offset)
            polls = len(feed_server.requests_to("/live.xml"))
            feed.add(headline, f"{TALKS} in round {n} of the talks, now in city number {n}.")
            # Generous waits: a process under libfaketime runs several times slower.
            wait_for(lambda n=n: len(receiver.ids) == n + 1 and len(box.messages) == n + 1, 60)
            # The feed keeps being polled on its schedule (every second), not just once.
            polled = lambda polls=polls: len(feed_server.requests_to("/live.xml")) >= polls + 3  # noqa: E731
            wait_for(polled, 60)
            assert health(metrics_port) == (200, "ok\n")
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert topics(receiver) == sorted(("human rights dialogue", h) for h in headlines)
    steps = re.findall(r"the wall clock was stepped by ([-+]\d+) s", stderr)
    assert steps == ["-3600", "+3600", "+3600"]
    stories = CliRunner().invoke(main, ["stories", "--config", str(config)]).output
    assert all(h in stories for h in headlines)


class Drain(threading.Thread):
    """Reads a pipe to the end, unless paused: then whoever writes to it blocks."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.flowing = threading.Event()
        self.flowing.set()
        self.data = bytearray()

    def run(self) -> None:
        while self.flowing.wait() and (chunk := os.read(self.fd, 1 << 16)):
            self.data += chunk


def test_healthz_fails_while_the_scheduler_cannot_tick(
    service: Env, feed_server: FeedServer
) -> None:
    """A stall from outside: the service logs to a pipe nobody reads (a stuck log collector),
    so its event loop blocks in a write and no job can run."""
    config, _, _, _, metrics_port = service
    # Feeds that fail every second, each logging a line as long as its URL.
    pad = "x" * 8000
    for i in range(10):
        feed_server.route(f"/fail{i}.xml", handler=lambda _: Response(status=500))
    with config.open("a", encoding="utf-8") as f:
        for i in range(10):
            f.write(f'\n[[feeds]]\nurl = "{feed_server.url(f"/fail{i}.xml")}?{pad}"\n')
            f.write('interval = "1s"\n')
        f.write('\n[schedule]\nmax_backoff = "1s"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        env={**os.environ, "HOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    drain = Drain(proc.stderr.fileno())
    drain.start()
    try:
        wait_for(lambda: len(feed_server.requests_to("/fail0.xml")) >= 2)
        assert health(metrics_port) == (200, "ok\n")
        drain.flowing.clear()
        wait_for(lambda: health(metrics_port)[0] == 503, timeout=60)
        assert health(metrics_port)[1].startswith("the scheduler has not ticked for ")
        drain.flowing.set()
        wait_for(lambda: health(metrics_port) == (200, "ok\n"), timeout=30)
        polled = len(feed_server.requests_to("/live.xml"))
        wait_for(lambda: len(feed_server.requests_to("/live.xml")) > polled)
    finally:
        drain.flowing.set()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        drain.join(10)
    assert code == 0, drain.data.decode(errors="replace")[-3000:]


class Stalled:
    """A route whose first request hangs until released; later ones are answered at once."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.asked = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, _: Request) -> Response:
        self.calls += 1
        if self.calls == 1:
            self.asked.set()
            self.release.wait(60)
        return Response(body=self.body)


def rss(name: str, items: int = 2) -> str:
    entries = "".join(
        f"<item><title>{name} story {k}</title><link>https://{name}.example/{k}</link>"
        f"<guid>{name}-{k}</guid><description>{TALKS}, {name} reported ({k}).</description></item>"
        for k in range(items)
    )
    channel = f"<channel><title>{name}</title>{entries}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'


@pytest.fixture
def stalled(feed_server: FeedServer) -> Iterator[Stalled]:
    route = Stalled(rss("slow"))
    feed_server.route("/slow.xml", handler=route)
    try:
        yield route
    finally:
        route.release.set()


def test_a_killed_poll_holds_no_feed_and_leaves_no_process(
    tmp_path: Path, feed_server: FeedServer, stalled: Stalled
) -> None:
    names = [f"f{i}" for i in range(16)]  # enough for the parse pool
    for name in names:
        feed_server.route(f"/{name}.xml", rss(name))
    (tmp_path / "rules").mkdir()
    config = tmp_path / "config.toml"
    config.write_text(
        '[archive]\nurl = "sqlite:///archive/monitor.db"\n\n[schedule]\nworkers = 2\n'
        + "".join(
            f'\n[[feeds]]\nurl = "{feed_server.url(f"/{n}.xml")}"\n' for n in [*names, "slow"]
        ),
        encoding="utf-8",
    )
    poll = [sys.executable, "-m", "monitor", "poll", "--config", str(config)]
    first = subprocess.Popen(poll, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tree: set[int] = set()

        def parse_pool_up() -> bool:
            workers = workers_below(first.pid, tree)
            return len(workers) >= 2 or first.poll() is not None

        assert stalled.asked.wait(60), "the slow feed was never asked for"
        wait_until(parse_pool_up, 60, "the parse workers")
        assert first.poll() is None, "the poll ended before it could be killed"
        first.kill()
        first.wait(timeout=60)
        wait_until(lambda: not any(alive(pid) for pid in tree), 30, "the poll's processes to exit")
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # The slow feed is still leased to the killed poll: the next poll takes it over at once.
    second = subprocess.run(poll, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert stalled.calls == 2
    assert "not polled" not in second.stderr
    archive = SQLiteArchive(tmp_path / "archive" / "monitor.db", read_only=True)
    try:
        slow = next(s for s in archive.feed_states() if s.url.endswith("/slow.xml"))
        assert slow.last_success is not None and slow.story_count == 2
    finally:
        archive.close()


def hang_first_delivery(receiver: Receiver) -> tuple[threading.Event, threading.Event, list[str]]:
    """Make ``receiver`` hang on its first delivery, as a receiver that stopped answering:
    (set when it hangs, set to let it go, the message ids it was sent)."""
    hung, release = threading.Event(), threading.Event()
    received: list[str] = []
    handler = receiver.server.RequestHandlerClass  # its own class, made for this receiver
    answer = handler.do_POST  # type: ignore[attr-defined]

    def do_post(request: BaseHTTPRequestHandler) -> None:
        received.append(request.headers["webhook-id"])
        if len(received) == 1:
            hung.set()
            release.wait(60)
            return
        answer(request)

    handler.do_POST = do_post  # type: ignore[attr-defined]
    return hung, release, received


def test_a_killed_delivery_holds_no_alert(service: Env, tmp_path: Path) -> None:
    config, feed, receiver, _, _ = service
    hung, release, received = hang_first_delivery(receiver)
    try:
        config.write_text(
            config.read_text(encoding="utf-8").replace('timeout = "3s"', 'timeout = "60s"'),
            encoding="utf-8",
        )
        (tmp_path / "rules" / "topics.toml").write_text(
            '[[topic]]\nname = "talks"\nquery = "rights NEAR/5 dialogue"\nnotify = ["hook"]\n',
            encoding="utf-8",
        )
        feed.add("Envoys Agree to Resume Rights Talks", TALKS + ".")
        run_env = {**os.environ, "HOOK_SECRET": SECRET}
        monitor = [sys.executable, "-m", "monitor"]
        poll = subprocess.Popen(
            [*monitor, "poll", "--config", str(config)],
            env=run_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert hung.wait(60), "the alert was never sent"
            poll.kill()  # mid-delivery: the alert stays leased to the killed poll
            poll.wait(timeout=60)
        finally:
            if poll.poll() is None:
                poll.kill()
                poll.wait()
        deliver = subprocess.run(
            [*monitor, "deliver", "--config", str(config)],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deliver.returncode == 0, deliver.stderr
        assert deliver.stdout.startswith("delivered 1 message;"), deliver.stdout
        assert len(received) == 2 and received[0] == received[1]  # the same message again
        assert receiver.ids == received[1:]
    finally:
        release.set()
