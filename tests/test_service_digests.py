"""The service's digest job: a topic whose digest fails is logged once and shown by status."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

import pytest

from monitor.alerts.deliver import DigestRun
from monitor.archive import Archive, open_archive
from monitor.config import load_config
from monitor.rules import RuleSet
from monitor.service.runner import Service
from tests.cli_project import run


def test_a_failing_digest_is_logged_once_and_shown_by_status(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes = [
        DigestRun(failed=(("MFN", "disk I/O error"),)),
        DigestRun(failed=(("MFN", "disk I/O error"),)),
        DigestRun(failed=(("MFN", "disk I/O error"),)),
        DigestRun(created=("d1",)),
    ]

    def run_digests(archive: Archive, rules: RuleSet, now: datetime, **_: object) -> DigestRun:
        return outcomes.pop(0)

    monkeypatch.setattr("monitor.service.runner.run_digests", run_digests)
    config = load_config(project)
    service = Service(project)
    service.house = open_archive(config.archive_url)
    service._generation = service._build(config)
    try:
        with caplog.at_level(logging.INFO, logger="monitor.service.runner"):
            for _ in range(3):
                asyncio.run(service._digest_tick())
            assert "digest of topic 'MFN' failing: disk I/O error" in run(project, "status")
            asyncio.run(service._digest_tick())
    finally:
        service._close_all()
        service.house.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("digest of topic 'MFN' failed: disk I/O error") == 1
    assert "digest of topic 'MFN' works again" in messages
    assert "digest of topic" not in run(project, "status")
