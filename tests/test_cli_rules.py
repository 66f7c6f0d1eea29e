from __future__ import annotations

import json
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
    assert "    U.S., China To Resume Rights Talks" in out
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
