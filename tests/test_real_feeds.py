"""Real feeds, as a user's arrive: served on loopback, polled with the default settings.

``tests/fixtures/feeds`` holds about 2,250 feed files from the test suites of five feed
libraries (real captures of news sites, blogs, podcasts; RSS, Atom, RDF, JSON Feed;
ill-formed XML and odd encodings). ``bench/fidelity.py`` polls them all (parse pool
included) and compares each entry's words with its archived story's; this test holds the
figures to the targets, and reads every archived story back from its exported file.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from monitor.archive.export import export_stories
from monitor.archive.sqlite import SQLiteArchive
from monitor.text.normalize import read_story

ROOT = Path(__file__).resolve().parent.parent
FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def _fidelity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fidelity", ROOT / "bench" / "fidelity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fidelity"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The bench's report (a ``fidelity.Report``) and the archive it polled into."""
    keep = tmp_path_factory.mktemp("real-feeds")
    report, _ = _fidelity().measure(FEEDS, keep=keep)
    return report, keep / "archive.db"


@pytest.mark.slow
def test_every_feed_polls_and_every_word_is_archived(measured: tuple[Any, Path]) -> None:
    report = measured[0]
    assert report.feeds > 2000
    assert report.internal_errors == []
    # What fails is what is not a feed at all (an HTML page, XML that no parser can read).
    assert sum(report.failed.values()) < 0.02 * report.feeds
    assert report.archived >= 0.99 * report.entries
    assert report.mean_recall >= 0.995
    # Every entry that loses more than 2% of its words loses them to a named rule, or because
    # another feed carries the same link with a fuller text (the story keeps the fullest:
    # these files share example links); by the rules alone, at most 0.5% of entries.
    assert report.losing_2_unexplained == 0, report.worst
    by_rules = report.losing_2 - report.explained.get(_fidelity().OTHER_VERSION, 0)
    assert by_rules <= 0.005 * report.entries, report.explained


@pytest.mark.slow
def test_every_archived_story_reads_back_from_its_exported_file(
    measured: tuple[Any, Path], tmp_path: Path
) -> None:
    archive = SQLiteArchive(measured[1])
    stories = list(archive.iter_stories())
    assert len(stories) > 1000
    export_stories(stories, tmp_path, total=len(stories))
    files = sorted(tmp_path.glob("*.txt"))
    assert len(files) == len(stories)
    for path, story in zip(files, stories, strict=True):
        assert path.name.endswith(f"_{story.id}.txt")
        text = path.read_text(encoding="utf-8")
        assert read_story(text) == (story.headline, list(story.paragraphs)), path.name
    conn = sqlite3.connect(measured[1])
    assert conn.execute("SELECT count(*) FROM stories WHERE headline = ''").fetchone() == (0,)
