"""`monitor run` as a subprocess: an edited interval applies to a scheduled feed at once."""

from __future__ import annotations

from pathlib import Path

from tests.feedserver import FeedServer
from tests.procs import wait_for
from tests.test_service_e2e import start, stop

FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>'
    "<item><title>Harbour reopens</title><link>https://news.example/1</link>"
    "<description>The harbour reopened after the storm.</description></item>"
    "</channel></rss>"
)


def test_an_interval_edited_while_running_applies_at_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.route("/slow.xml", FEED)
    (tmp_path / "rules").mkdir()
    config = tmp_path / "config.toml"
    settings = '[service]\ntick = "200ms"\nreload_every = "300ms"\ngrace = "5s"\n'
    feed = f'[[feeds]]\nurl = "{url}"\nname = "Slow"\n'
    config.write_text(f'{settings}\n{feed}interval = "1h"\n', encoding="utf-8")
    proc = start(config)
    try:
        wait_for(lambda: len(feed_server.requests_to("/slow.xml")) == 1)
        # Polled once, next in an hour; from now on every second.
        config.write_text(f'{settings}\n{feed}interval = "1s"\n', encoding="utf-8")
        wait_for(lambda: len(feed_server.requests_to("/slow.xml")) >= 3)
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "configuration reloaded" in stderr
