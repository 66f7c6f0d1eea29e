"""Counters for ``/metrics`` (Prometheus text format) and ``/healthz``, on a local port."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from monitor.alerts.deliver import DeliveryReport
from monitor.archive import Archive
from monitor.errors import MonitorError
from monitor.service.localhttp import BoundedHTTPServer, ProbeHandler
from monitor.types import PollSummary

STALE_AFTER = 120.0  # /healthz fails when no poll finished for this long (or the window below)
# ... or when the scheduler has not ticked for this many tick periods (at least STALL_FLOOR
# seconds, so that a busy moment on a small machine is not a failure).
STALL_TICKS = 5
STALL_FLOOR = 10.0


def stall_window(tick: float) -> float:
    """Seconds without a poll tick after which the service is unhealthy."""
    return max(STALL_TICKS * tick, STALL_FLOOR)


@dataclass
class Metrics:
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    last_poll: float = field(default_factory=time.monotonic)
    last_tick: float = field(default_factory=time.monotonic)
    stall_after: float = STALL_FLOOR
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, value: float) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + value

    def record_tick(self) -> None:
        self.last_tick = time.monotonic()

    def record_poll(self, summary: PollSummary) -> None:
        self.last_poll = time.monotonic()
        for status in ("updated", "unchanged", "failed", "gone"):
            self.add(f'monitor_feed_polls_total{{outcome="{status}"}}', summary.count(status))
        self.add("monitor_stories_new_total", summary.new_stories)
        self.add("monitor_full_articles_total", summary.articles + summary.retry_changed)
        self.add("monitor_article_retries_total", summary.articles_retried)
        self.add("monitor_alerts_created_total", summary.alerts)

    def record_delivery(self, report: DeliveryReport) -> None:
        self.add('monitor_deliveries_total{outcome="sent"}', report.sent)
        self.add('monitor_deliveries_total{outcome="retry"}', report.retrying)
        self.add('monitor_deliveries_total{outcome="dead"}', report.dead)

    def snapshot(self, archive: Archive) -> None:
        counts = archive.outbox_counts()
        feeds, failing = archive.feed_counts()
        with self.lock:
            self.gauges["monitor_outbox_pending"] = counts.get("pending", 0)
            self.gauges["monitor_outbox_dead"] = counts.get("dead", 0)
            self.gauges["monitor_feeds"] = feeds
            self.gauges["monitor_feeds_failing"] = failing

    def healthy(self) -> bool:
        return self.problem(time.monotonic()) is None

    def problem(self, now: float) -> str | None:
        """Why the service is unhealthy at ``now`` (monotonic seconds), or None."""
        if now - self.last_tick >= self.stall_after:
            return f"the scheduler has not ticked for {now - self.last_tick:.0f} s"
        if now - self.last_poll >= max(STALE_AFTER, self.stall_after):
            return "no poll recently"
        return None

    def render(self) -> str:
        with self.lock:
            lines = [f"{k} {v:g}" for k, v in sorted(self.counters.items())]
            lines += [f"{k} {v:g}" for k, v in sorted(self.gauges.items())]
        return "\n".join(lines) + "\n"


class MetricsServer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server

    @classmethod
    def start(
        cls, port: int | None, metrics: Metrics, *, host: str = "127.0.0.1"
    ) -> MetricsServer | None:
        if port is None:
            return None

        class Handler(ProbeHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    status, body = 200, metrics.render()
                elif self.path == "/healthz":
                    problem = metrics.problem(time.monotonic())
                    status, body = (200, "ok\n") if problem is None else (503, f"{problem}\n")
                else:
                    status, body = 404, "not found\n"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        # Loopback unless [service] metrics_bind says otherwise (a scraper in another container).
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            server = BoundedHTTPServer((host, port), Handler)
        except OSError as exc:
            raise MonitorError(
                f"cannot serve /metrics on {shown}: {exc.strerror or exc}; another "
                "program has the port (`ss -ltnp` names it), or the address is not this "
                "machine's: stop it, or set another [service] metrics_port or metrics_bind"
            ) from exc
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return cls(server)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
