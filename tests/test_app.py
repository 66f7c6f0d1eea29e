"""The composition root: what it builds is wired to the configuration and the rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alerts.deliver import HeldOutcomes
from monitor.archive import open_archive
from monitor.config import Config, parse_config
from monitor.errors import MonitorError
from monitor.rules import RuleSet
from monitor.service.app import build_deliverer, build_planner, build_poller, open_app

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NO_RULES = RuleSet()


def no_rules() -> RuleSet:
    return NO_RULES


def config_at(tmp_path: Path, **notifiers: dict[str, str]) -> Config:
    data = {
        "archive": {"url": f"sqlite:///{tmp_path / 'monitor.db'}"},
        "feeds": [{"url": "https://news.example/feed.xml", "name": "News"}],
        "notifiers": {"console": {"type": "console"}, **notifiers},
    }
    return parse_config(data, tmp_path / "config.toml")


def test_the_service_s_parts_share_owner_clock_and_held_outcomes(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    held = HeldOutcomes()
    app = open_app(config, no_rules, owner="me", held=held, clock=lambda: NOW)
    try:
        assert app.poller.owner == app.deliverer.owner == "me"
        assert app.poller.clock() == app.deliverer.clock() == NOW
        assert app.deliverer.held is held
        assert set(app.deliverer.notifiers) == {"console"}
        assert app.poller.archive is not app.deliverer.archive  # a connection each
    finally:
        app.close()


def test_the_commands_parts_share_one_archive(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    archive = open_archive(config.archive_url)
    try:
        planner = build_planner(config, no_rules)
        poller = build_poller(config, archive, planner=planner, alerts=False)
        deliverer = build_deliverer(config, archive)
        try:
            assert poller.archive is deliverer.archive is archive
            assert poller.owner == deliverer.owner  # this process
        finally:
            poller.close()
            deliverer.close()
    finally:
        archive.close()


def test_a_notifier_that_cannot_be_built_fails_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_HOOK", raising=False)
    hook = {"type": "webhook", "url_env": "NO_SUCH_HOOK"}
    config = config_at(tmp_path, hook=hook)
    with pytest.raises(MonitorError, match="NO_SUCH_HOOK"):
        open_app(config, no_rules, owner="me", held=HeldOutcomes())
