"""Retention: old stories go, matched ones are kept longer, nothing comes back or is lost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Retention, parse_config
from monitor.errors import ConfigError
from monitor.types import Feed, Match, PlannedMatch, TermHit
from tests.builders import archive_with, entry
from tests.cli_project import run

FEED = Feed(url="https://a.example/rss", name="A")
OLD = datetime(2026, 1, 1, tzinfo=UTC)
NOW = OLD + timedelta(days=200)
DAY = timedelta(days=1)


def matching(notifiers: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """Matches stories whose headline says MATCHED; alerts go to ``notifiers``."""

    def plan(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        if "MATCHED" not in headline:
            return []
        hit = TermHit(term="matched", field="title", span=(0, 7))
        match = Match(topic="t", terms=(hit,), snippet=body, snippet_terms=())
        return [PlannedMatch(match=match, notifiers=notifiers, delivery="immediate")]

    return plan


def test_old_stories_go_matched_ones_stay_and_pruned_ones_do_not_come_back(
    archive_url: str,
) -> None:
    archive = archive_with(archive_url, [FEED], OLD)
    old = [entry(1), entry(2, headline="MATCHED story 2 about talks")]
    archive.store_entries(FEED.url, old, OLD, matcher=matching())
    archive.store_entries(FEED.url, [entry(3)], NOW - DAY)
    assert archive.count_stories() == 3

    before = NOW - timedelta(days=180)
    assert archive.prune(before, matched_before=None, now=NOW, dry_run=True) == 1
    assert archive.count_stories() == 3  # a dry run changes nothing
    assert archive.prune(before, matched_before=None, now=NOW) == 1
    assert sorted(s.headline for s in archive.iter_stories()) == [
        "MATCHED story 2 about talks",
        "Story 3 about talks",
    ]
    # The feed still carries story 1: it is not archived (or alerted) again.
    again = archive.store_entries(FEED.url, [*old, entry(3)], NOW, matcher=matching())
    assert (again.new, again.changed, again.alerts) == ((), (), 0)
    assert archive.count_stories() == 2
    # Matched stories go by their own cut-off.
    assert archive.prune(before, matched_before=before, now=NOW) == 1
    assert [s.headline for s in archive.iter_stories()] == ["Story 3 about talks"]
    archive.close()


def test_a_story_with_an_alert_to_send_is_kept_until_it_is_sent(archive_url: str) -> None:
    archive = archive_with(archive_url, [FEED], OLD)
    archive.store_entries(
        FEED.url, [entry(1, headline="MATCHED 1 talks")], OLD, matcher=matching(("mail",))
    )
    cut = dict(matched_before=NOW - DAY, now=NOW)
    assert archive.prune(NOW - DAY, **cut) == 0  # type: ignore[arg-type]
    (message,) = archive.claim_outbox(NOW, owner="t", lease_seconds=60, limit=10)
    archive.finish_delivery(message.id, owner="t", now=NOW)
    assert archive.prune(NOW - DAY, **cut) == 1  # type: ignore[arg-type]
    archive.close()


def test_pruning_goes_in_batches(archive_url: str) -> None:
    archive = archive_with(archive_url, [FEED], OLD)
    archive.store_entries(FEED.url, [entry(n) for n in range(25)], OLD)
    assert archive.prune(NOW, matched_before=None, now=NOW, batch=10, most=12) == 12
    assert archive.count_stories() == 13
    assert archive.prune(NOW, matched_before=None, now=NOW, batch=10) == 13
    assert archive.count_stories() == 0
    archive.close()


def test_retention_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config = parse_config({"archive": {"keep": "180d", "keep_matched": "730d"}}, path)
    assert config.retention == Retention(keep=180 * 86400.0, keep_matched=2 * 365 * 86400.0)
    before, matched = config.retention.cutoffs(NOW)
    assert (before, matched) == (NOW - timedelta(days=180), NOW - timedelta(days=730))
    assert parse_config({}, path).retention == Retention()
    with pytest.raises(ValueError, match="no retention"):
        Retention().cutoffs(NOW)
    with pytest.raises(ConfigError, match=r"must not be shorter than archive\.keep"):
        parse_config({"archive": {"keep": "30d", "keep_matched": "7d"}}, path)
    with pytest.raises(ConfigError, match=r"archive\.keep"):
        parse_config({"archive": {"keep": "1h"}}, path)  # less than a day


def test_prune_command(project: Path) -> None:
    run(project, "poll", "--no-alerts")
    assert "nothing to prune by" in run(project, "prune", code=2)
    assert run(project, "prune", "--older-than", "1d", "--dry-run").strip() == (
        "would prune 0 stories"
    )
    assert run(project, "prune", "--older-than", "1d", "--vacuum").strip() == "pruned 0 stories"
    text = project.read_text().replace("[archive]\n", '[archive]\nkeep = "30d"\n')
    project.write_text(text, encoding="utf-8")
    assert run(project, "prune").strip() == "pruned 0 stories"
    assert len(run(project, "stories").splitlines()) == 5
