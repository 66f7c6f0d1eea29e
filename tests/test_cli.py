from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.config import load_config
from tests.cli_project import run


def test_poll_list_show_search_export(project: Path, tmp_path: Path) -> None:
    out = run(project, "poll", "--once")
    assert "polled 2 feeds: 2 updated, 0 unchanged, 0 failed, 0 gone; 5 new stories" in out
    assert "0 new stories" in run(project, "poll", "--once")
    assert (tmp_path / "archive" / "monitor.db").exists()

    listing = run(project, "stories").splitlines()
    assert len(listing) == 5
    assert listing[0].endswith("U.S., China To Resume Rights Talks")
    story_id = listing[-1].split()[0]
    assert len(story_id) == 16

    header, shown = run(project, "show", story_id[:8]).split("\n\n", 1)
    assert header.splitlines() == [
        f"id:         {story_id}",
        "link:       https://news.example.org/1994/08/30/china-ready-to-resume-talks-on-human-rights",
        "published:  1994-08-30 14:00",
        header.splitlines()[3],  # first seen: when this test ran
        "sources:    Example World News",
        "topics:     MFN, human rights dialogue",
        "text:       feed",
    ]
    assert shown.startswith("China Ready to Resume Talks on Human Rights\n\nBEIJING -- ")
    assert "Share" not in shown and "Get the app" not in shown
    assert "\n\n\n" not in shown
    record = json.loads(run(project, "show", story_id, "--json"))
    assert record["id"] == story_id and record["body"] + "\n" == shown.split("\n\n", 1)[1]
    assert (record["content_source"], record["article_error"]) == ("feed", None)
    assert record["topics"] == ["MFN", "human rights dialogue"]

    found = run(project, "search", '"most favored nation"')
    assert len([line for line in found.splitlines() if not line.startswith(" ")]) == 2

    feeds = run(project, "feeds")
    assert [line.split()[0] for line in feeds.splitlines()] == ["ok", "ok"]

    out_dir = tmp_path / "export"
    assert "wrote 5 stories" in run(project, "export", str(out_dir))
    names = sorted(p.name for p in out_dir.glob("*.txt"))
    assert len(names) == 5
    assert all(n[:3].isdigit() and n[3] == "_" and len(n) == 3 + 1 + 16 + 4 for n in names)
    assert names[0].startswith("000_")


def test_show_unknown_story_fails_clearly(project: Path) -> None:
    run(project, "poll")
    out = run(project, "show", "0123456789abcdef", code=1)
    assert "no story with id" in out


def test_check_reports_config_errors(project: Path) -> None:
    assert "OK (2 feeds, 1 notifier)" in run(project, "check")
    text = project.read_text()
    project.write_text(text + '\n[[feeds]]\nurl = "x"\nname = "Example News"\ninterval = "soon"\n')
    line = text.count("\n") + 5
    out = run(project, "check", code=1)
    assert (
        f'{project}:{line}:1: feeds[2] (Example News).interval: expected a duration like "15m", '
        'got "soon"'
    ) in out


def test_opml_import_and_export(project: Path, tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text(
        """<?xml version="1.0"?>
        <opml version="2.0"><head><title>My feeds</title></head><body>
          <outline text="World">
            <outline type="rss" text="Wire" xmlUrl="https://wire.example/rss"/>
            <outline type="rss" text="Dup" xmlUrl="https://wire.example/rss"/>
          </outline>
          <outline type="rss" title="Loose &amp; Co" xmlUrl="https://loose.example/atom"
                   category="trade,asia"/>
        </body></opml>""",
        encoding="utf-8",
    )
    before = project.read_text()
    out = run(project, "feeds", "import", str(opml))
    assert f"3 feeds in {opml}: 2 added to {project}, 1 skipped" in out
    assert "  skipped 'Dup': the same feed as 'Wire', listed before it" in out
    assert project.read_text().startswith(before.rstrip("\n"))  # appended; comments kept
    feeds = {f.url: f for f in load_config(project).feeds}
    assert feeds["https://wire.example/rss"].tags == ("World",)
    assert feeds["https://loose.example/atom"].name == "Loose & Co"
    assert feeds["https://loose.example/atom"].tags == ("trade", "asia")
    again = run(project, "feeds", "import", str(opml))
    assert "0 added" in again and "3 configured already" in again

    exported = run(project, "feeds", "export")
    assert exported.count("<outline") == 4 and 'xmlUrl="https://loose.example/atom"' in exported


def test_opml_import_skips_what_cannot_be_a_feed_and_imports_the_rest(
    project: Path, tmp_path: Path
) -> None:
    project.write_text(
        project.read_text() + '\n[[feeds]]\nurl = "https://news.example.org/rss"\nname = "News"\n',
        encoding="utf-8",
    )
    opml = tmp_path / "subs.opml"
    opml.write_text(
        """<?xml version="1.0"?>
        <opml version="2.0"><body>
          <outline type="rss" text="News again" xmlUrl="HTTPS://News.Example.ORG/rss"/>
          <outline type="rss" text="No scheme" xmlUrl="www.example.org/feed.xml"/>
          <outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>
          <outline type="rss" text="Local file" xmlUrl="file:///etc/passwd"/>
          <outline type="rss" text="Empty"/>
          <outline type="rss" text="Bad host" xmlUrl="http://[::1/rss"/>
          <outline type="rss" text='Quote " and &#x7f; tab&#9;end' xmlUrl="HTTP://Good.Example/rss"/>
          <outline text="An empty folder"/>
        </body></opml>""",
        encoding="utf-8",
    )
    out = run(project, "feeds", "import", str(opml))
    assert f"7 feeds in {opml}: 1 added to {project}, 1 configured already, 5 skipped" in out
    assert (
        "  skipped 'No scheme': not an http(s) URL: 'www.example.org/feed.xml'; "
        'did you mean "https://www.example.org/feed.xml"?'
    ) in out
    assert "  skipped 'Script': not an http(s) URL: 'javascript:alert(1)'" in out
    assert "  skipped 'Local file': not an http(s) URL" in out
    assert "  skipped 'Empty': no feed URL (xmlUrl)" in out
    assert "  skipped 'Bad host': " in out
    assert ".config-" not in out and "feeds[" not in out
    feeds = load_config(project).feeds
    assert [f.url for f in feeds].count("https://news.example.org/rss") == 1
    added = feeds[-1]
    assert (added.url, added.name) == ("http://good.example/rss", 'Quote " and \x7f tab\tend')
    assert not list(project.parent.glob(".config-*"))  # no temporary file left behind


def test_opml_import_rejects_garbage(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<html><body>nope</body></html>")
    assert "not an OPML document" in run(project, "feeds", "import", str(bad), code=1)


def test_python_dash_m_works() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True, check=True
    )
    assert "monitor" in result.stdout


def test_check_reports_missing_secrets_without_values(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write_text(
        project.read_text() + '\n[notifiers.hook]\ntype = "webhook"\nurl = "https://h.example/x"\n'
        'secret_env = "HOOK_SECRET_FOR_TEST"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("HOOK_SECRET_FOR_TEST", raising=False)
    out = run(project, "check", code=1)
    assert "HOOK_SECRET_FOR_TEST" in out and "is not set" in out
    monkeypatch.setenv("HOOK_SECRET_FOR_TEST", "whsec_c2VjcmV0LXZhbHVlLWZvci10ZXN0cw==")
    out = run(project, "check")
    assert "OK" in out and "c2VjcmV0" not in out


def test_export_writes_an_index_and_takes_since_and_topic(project: Path, tmp_path: Path) -> None:
    run(project, "poll", "--no-alerts")
    everything = tmp_path / "all"
    assert "wrote 5 stories" in run(project, "export", str(everything))
    index = [json.loads(line) for line in (everything / "index.jsonl").read_text().splitlines()]
    files = sorted(p.name for p in everything.glob("*.txt"))
    assert [r["file"] for r in index] == files  # a line per file, in archive order
    seed = next(r for r in index if r["headline"] == "China Ready to Resume Talks on Human Rights")
    assert seed["topics"] == ["MFN", "human rights dialogue"]
    assert seed["sources"] == ["Example World News"] and seed["url"].startswith("https://")
    assert (everything / seed["file"]).read_text().startswith(seed["headline"] + "\n\n")

    mfn = tmp_path / "mfn"
    assert "wrote 2 stories" in run(project, "export", str(mfn), "--topic", "MFN")
    assert {r["topics"][0] for r in map(json.loads, (mfn / "index.jsonl").open())} == {"MFN"}
    # Every sample story was first seen just now: a day back has them all, none is older.
    assert "wrote 5 stories" in run(project, "export", str(tmp_path / "day"), "--since", "1d")
    assert "expected a duration" in run(
        project, "export", str(tmp_path / "x"), "--since", "x", code=2
    )


def test_stories_marks_those_an_alert_was_sent_for(project: Path) -> None:
    run(project, "poll")  # the sample config alerts to the console
    marked = {
        line.split("  ")[-1] for line in run(project, "stories").splitlines() if line[17] == "*"
    }
    assert marked == {
        "U.S., China To Resume Rights Talks",
        "China Ready to Resume Talks on Human Rights",
    }
