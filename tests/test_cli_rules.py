from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from tests.cli_project import run

SEEDS = sorted((Path(__file__).parent / "fixtures" / "seeds").glob("*.txt"))


def test_match_prints_topics_with_highlights(project: Path) -> None:
    out = run(project, "match", "--page", *map(str, SEEDS))
    assert (
        f"{SEEDS[0]}: 'China Ready to Resume Talks on Human Rights': human rights dialogue, MFN"
        in out
    )
    assert "title: China Ready to [Resume] [Talks] on [Human Rights]" in out
    assert "[most-favored nation]" in out and "[MFN]" in out


def test_match_json(project: Path, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><nav>Home</nav><h1>Envoys Agree to Hold Rights Talks</h1>"
        "<p>The two governments agreed on Monday to hold a new round of talks on human rights "
        "next month, officials said.</p></body></html>",
        encoding="utf-8",
    )
    lines = run(project, "match", "--json", "--page", str(SEEDS[1]), str(page)).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["path"] for r in records] == [str(SEEDS[1]), str(page)]
    seed, html = records
    assert [t["name"] for t in seed["topics"]] == ["human rights dialogue", "MFN"]
    mfn = seed["topics"][1]["terms"][0]
    body = seed["body"]
    assert mfn["field"] == "body" and mfn["term"] == "most favored nation"
    assert body[mfn["span"][0] : mfn["span"][1]] == "most-favored nation"
    assert html["headline"] == "Envoys Agree to Hold Rights Talks"
    assert [t["name"] for t in html["topics"]] == ["human rights dialogue"]


def test_rules_check_lists_every_error_and_fails(project: Path) -> None:
    assert "OK (2 topics)" in run(project, "rules", "check")
    rules = project.parent / "rules"
    (rules / "broken.toml").write_text(
        "[[topic]]\nname = 'a'\nquery = 'x AND'\n[[topic]]\nname = 'b'\nquery = '(y'\n",
        encoding="utf-8",
    )
    out = run(project, "rules", "check", code=1)
    assert f"{rules / 'broken.toml'}:3:15: expected a word" in out
    assert f"{rules / 'broken.toml'}:6:12: expected ')'" in out
    assert "2 errors in the rule files" in out
    run(project, "check", code=1)
    run(project, "match", str(SEEDS[0]), code=1)


def test_rules_test_backtests_the_archive(project: Path) -> None:
    run(project, "poll", "--once")
    out = run(project, "rules", "test", "--since", "3650d")
    assert "5 stories first seen since" in out
    assert "human rights dialogue: 2 hits" in out and "MFN: 2 hits" in out
    assert re.search(r"^    [0-9a-f]{16}  U\.S\., China To Resume Rights Talks$", out, re.M)
    only = run(project, "rules", "test", "MFN")
    assert "MFN: 2 hits" in only and "human rights dialogue" not in only
    run(project, "rules", "test", "nope", code=1)


def test_export_then_match_reads_every_story_back_unchanged(project: Path, tmp_path: Path) -> None:
    from monitor.archive.sqlite import SQLiteArchive

    run(project, "poll", "--once")
    out = tmp_path / "export"
    run(project, "export", str(out))
    files = sorted(out.glob("*.txt"))
    records = [
        json.loads(line) for line in run(project, "match", "--json", *map(str, files)).splitlines()
    ]
    archive = SQLiteArchive(project.parent / "archive" / "monitor.db")
    stories = list(archive.iter_stories())
    assert len(records) == len(stories) == 5
    for record, story in zip(records, stories, strict=True):
        assert record["path"].endswith(f"_{story.id}.txt")
        assert (record["headline"], record["body"]) == (
            story.headline,
            "\n\n".join(story.paragraphs),
        )


def test_rules_check_and_check_report_what_the_configuration_lacks(project: Path) -> None:
    rules = project.parent / "rules" / "desk.toml"
    rules.write_text(
        "[[topic]]\nname = 'desk'\nquery = 'talks'\nnotify = ['desk']\n"
        "feeds = ['Example Wire Service', 'Example Wire']\ntags = ['asia']\n",
        encoding="utf-8",
    )
    for command in (["rules", "check"], ["check"]):
        out = run(project, *command, code=1)
        assert f"{rules}:4:11: notify: no notifier named 'desk'" in out
        assert f"{rules}:5:34: feeds: no feed has the name or URL 'Example Wire'" in out
        assert "did you mean 'Example Wire Service'?" in out
        assert f"{rules}:6:9: tags: no feed in {project} has the tag 'asia'" in out
    # Trying rules out sends nothing: what the configuration lacks is only a warning there.
    out = run(project, "match", str(SEEDS[0]))
    assert "warning: " in out and "no notifier named 'desk'" in out


def test_topics_without_any_notifier_are_an_error(project: Path) -> None:
    text = project.read_text()
    project.write_text(text.replace('[notifiers.console]\ntype = "console"\n', ""))
    out = run(project, "check", code=1)
    assert "topics.toml:11:1: topic 'human rights dialogue' (and 1 more topics): alerts go to " in (
        out
    )
    run(project, "poll", "--once", code=1)


def test_match_respects_feeds_and_tags_and_names_what_it_skipped(project: Path) -> None:
    (project.parent / "rules" / "wire.toml").write_text(
        "[[topic]]\nname = 'wire MFN'\nquery = 'MFN OR harbour'\nfeeds = ['Example Wire Service']\n"
        "[[topic]]\nname = 'world MFN'\nquery = 'MFN OR harbour'\ntags = ['world']\n",
        encoding="utf-8",
    )
    out = run(project, "match", str(SEEDS[0]))
    assert out.startswith(f"{SEEDS[0]}: ")
    assert ": human rights dialogue, MFN\n" in out
    assert (
        "skipped, limited to other feeds or tags: wire MFN (feeds Example Wire Service), "
        "world MFN (tags world)"
    ) in out
    out = run(project, "match", "--feed", "Example Wire Service", str(SEEDS[0]))
    assert ": human rights dialogue, MFN, wire MFN\n" in out and "world MFN (tags world)" in out
    # A feed brings its tags; a tag alone is a feed with that tag.
    assert "world MFN\n" in run(project, "match", "--feed", "Example World News", str(SEEDS[0]))
    assert "MFN, world MFN\n" in run(project, "match", "--tag", "world", str(SEEDS[0]))
    record = json.loads(run(project, "match", "--json", "--tag", "world", str(SEEDS[0])))
    assert [t["name"] for t in record["topics"]] == ["human rights dialogue", "MFN", "world MFN"]
    assert record["skipped"] == [
        {"name": "wire MFN", "feeds": ["Example Wire Service"], "tags": []}
    ]
    negative = project.parent / "negative.txt"
    negative.write_text("Harbour closed\n\nThe harbour was closed by a storm.", encoding="utf-8")
    out = run(project, "match", str(negative))
    assert ": 'Harbour closed': no topics from where this story comes\n" in out
    assert "skipped, limited to other feeds or tags: wire MFN" in out
    assert "no feed named 'Wire'" in run(project, "match", "--feed", "Wire", str(SEEDS[0]), code=2)
    assert "no feed has the tag 'asia'" in run(
        project, "match", "--tag", "asia", str(SEEDS[0]), code=2
    )


def test_deliver_sends_what_is_pending_even_when_the_rules_are_broken(project: Path) -> None:
    from monitor.archive.sqlite import SQLiteArchive

    archive = SQLiteArchive(project.parent / "archive" / "monitor.db")
    now = datetime.now(UTC)
    payload = {"title": "pending", "text": "queued before the rules broke"}
    archive.enqueue_message(
        id="m1", notifier="console", kind="test", topic="", payload=payload, now=now
    )
    archive.close()
    (project.parent / "rules" / "broken.toml").write_text(
        "[[topic]]\nname = 'x'\nquery = 'talks'\ndelivery = 'digest'\ndigest = 'soon'\n", "utf-8"
    )
    out = run(project, "deliver", code=1)
    assert "broken.toml:5:10: digest: expected a schedule like" in out
    assert "delivered 1 message;" in out and "queued before the rules broke" in out
    assert "1 error in the rule files; digests wait until the rule files load" in out
