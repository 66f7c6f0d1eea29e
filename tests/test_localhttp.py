"""The /metrics and /healthz server against idle, trickling and too many clients."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError, MonitorError
from monitor.service import localhttp
from monitor.service.metrics import Metrics, MetricsServer
from tests.procs import wait_until
from tests.servers import closed_by_peer, free_port


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    # Short limits keep the test quick; the behaviour is the same at any length.
    monkeypatch.setattr(localhttp, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(localhttp, "REQUEST_DEADLINE", 1.5)
    number = free_port()
    server = MetricsServer.start(number, Metrics())
    assert server is not None
    try:
        yield number
    finally:
        server.stop()


def get(port: int, path: str = "/healthz") -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return int(answer.status), answer.read()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_connections_beyond_the_limit_are_closed_at_once(port: int) -> None:
    before = open_fds()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(60)]
    try:
        wait_until(
            lambda: sum(map(closed_by_peer, idle)) >= 60 - localhttp.MAX_CONNECTIONS, 10, "extras"
        )
        # Ours are 60; the server holds at most its limit besides.
        assert open_fds() - before <= 60 + localhttp.MAX_CONNECTIONS
        # The idle ones time out, and a fresh probe is answered.
        wait_until(lambda: all(map(closed_by_peer, idle)), 10, "idle connections timed out")
        assert get(port) == (200, b"ok\n")
    finally:
        for conn in idle:
            conn.close()


def test_a_client_trickling_its_request_is_cut_off(port: int) -> None:
    conn = socket.create_connection(("127.0.0.1", port))
    stop = threading.Event()

    def trickle() -> None:  # one byte well within each read timeout, for ever
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 10_000:
            if stop.is_set():
                return
            try:
                conn.send(bytes([byte]))
            except OSError:
                return
            time.sleep(0.05)

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        wait_until(lambda: closed_by_peer(conn), 20, "the trickling client to be cut off")
    finally:
        stop.set()
        sender.join(timeout=5)
        conn.close()
    assert get(port) == (200, b"ok\n")


def test_metrics_and_healthz_still_answer(port: int) -> None:
    assert get(port) == (200, b"ok\n")
    status, body = get(port, "/metrics")
    assert status == 200 and body.endswith(b"\n")
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(port, "/nope")
    assert caught.value.code == 404


def test_metrics_bind_is_loopback_unless_set_and_takes_ip_addresses_only(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    assert load_config(config).service.metrics_bind == "127.0.0.1"
    config.write_text('[service]\nmetrics_bind = "0.0.0.0"\n', encoding="utf-8")
    assert load_config(config).service.metrics_bind == "0.0.0.0"
    config.write_text('[service]\nmetrics_bind = "localhost"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"service\.metrics_bind: expected an IP address"):
        load_config(config)


@pytest.mark.parametrize("host", ["0.0.0.0", "::1"])
def test_metrics_bind_serves_on_the_address_given(host: str) -> None:
    if ":" in host and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    number = free_port()
    try:
        server = MetricsServer.start(number, Metrics(), host=host)
    except MonitorError as exc:  # a machine without the IPv6 loopback
        pytest.skip(str(exc))
    assert server is not None
    try:
        assert server._server.server_address[0] == host
        shown = f"[{host}]" if ":" in host else "127.0.0.1"
        with urllib.request.urlopen(f"http://{shown}:{number}/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        server.stop()
