"""`monitor search` in the rule language: a topic's query finds what the topic would match."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.archive import open_archive
from monitor.archive.search import search
from monitor.config import load_config
from monitor.rules.matcher import Document, compile_node
from monitor.rules.parser import QueryError, parse_query
from tests.cli_project import run

SEEDS = {"China Ready to Resume Talks on Human Rights", "U.S., China To Resume Rights Talks"}
QUERIES = [
    "U.S.",  # FTS5 alone: syntax error near "."
    "most-favored",  # FTS5 alone: no such column: favored
    '"human rights" NEAR/10 dialogue',
    "title:china",
    'body:"human rights" NOT title:china',
    "resum* AND (talks OR dialogue)",
    # What FTS5 cannot say: the whole archive is read.
    "=MFN",
    "NOT china",
    '(rights OR "human rights") NEAR/3 talks',
]


@pytest.fixture
def polled(project: Path, archive_url: str) -> Path:
    """The sample project, polled into an archive of the backend the test runs on."""
    use_archive(project, archive_url)
    run(project, "poll", "--no-alerts")
    return project


def use_archive(config: Path, url: str) -> None:
    text = config.read_text(encoding="utf-8")
    shipped = 'url = "sqlite:///archive/monitor.db"'
    assert shipped in text
    config.write_text(text.replace(shipped, f'url = "{url}"'), encoding="utf-8")


def headlines(output: str) -> set[str]:
    lines = [line for line in output.splitlines() if not line.startswith(" ")]
    return {line.split("  ", 3)[3].replace("[", "").replace("]", "") for line in lines}


@pytest.mark.parametrize("query", QUERIES)
def test_search_finds_exactly_what_the_query_matches(polled: Path, query: str) -> None:
    config = load_config(polled)
    archive = open_archive(config.archive_url, read_only=True)
    try:
        matches = compile_node(parse_query(query))
        expected = {
            s.id for s in archive.iter_stories() if matches(Document.of(s.headline, s.body))
        }
        assert expected, "each query matches some sample story"
        found = search(archive, query, limit=100)
    finally:
        archive.close()
    assert {h.story.id for h in found} == expected
    for hit in found:  # the terms found are marked, in the headline or in the snippet
        assert hit.terms or query.startswith("NOT ")
        for term in hit.terms:
            text = hit.story.headline if term.field == "title" else hit.story.body
            assert text[slice(*term.span)].strip() != ""
        body_terms = [t for t in hit.terms if t.field == "body"]
        assert len(hit.spans) <= len(body_terms)
        for start, end in hit.spans:
            assert hit.snippet[start:end].strip() == hit.snippet[start:end] != ""


def test_the_seeds_are_found_by_words_fts5_could_not_read(polled: Path) -> None:
    for query in ("U.S.", "most-favored"):
        assert headlines(run(polled, "search", query)) >= SEEDS


def test_a_limit_keeps_the_first_results(polled: Path) -> None:
    assert len(headlines(run(polled, "search", "NOT china", "-n", "2"))) == 2
    assert len(headlines(run(polled, "search", "china OR talks", "-n", "1"))) == 1


def test_bad_queries_say_what_and_where(polled: Path) -> None:
    out = run(polled, "search", '"human rights', code=1)
    assert 'unterminated "phrase"' in out and '  "human rights\n  ^' in out
    assert "aliases (@name) are defined in rule files" in run(polled, "search", "@MFN", code=1)
    with pytest.raises(QueryError):
        search(open_archive(load_config(polled).archive_url, read_only=True), "a AND", limit=5)


def test_matched_words_are_marked(polled: Path) -> None:
    out = run(polled, "search", "title:china AND dialogue")
    assert "[China]" in out and "[dialogue]" in out


def test_nothing_found_is_said(polled: Path) -> None:
    assert run(polled, "search", "zebra").strip() == "no stories found"


@pytest.mark.sqlite_only
def test_a_copy_in_postgresql_answers_search_and_rules_test_as_sqlite_does(
    polled: Path, postgres_url: str
) -> None:
    out = run(polled, "archive", "copy", "--to", postgres_url)
    assert "  stories: " in out and "every table holds as many rows as in the archive" in out
    sqlite_url = load_config(polled).archive_url
    copy = polled.with_name("copy.toml")  # beside it: the same rules and feeds
    copy.write_text(
        polled.read_text(encoding="utf-8").replace(
            f'url = "{sqlite_url}"', f'url = "{postgres_url}"'
        ),
        encoding="utf-8",
    )
    assert load_config(copy).archive_url == postgres_url
    for query in [*QUERIES, "china OR talks", "zebra"]:
        assert run(copy, "search", query, "-n", "5") == run(polled, "search", query, "-n", "5")
    assert run(copy, "rules", "test") == run(polled, "rules", "test")
    assert run(copy, "feeds") == run(polled, "feeds")
    # Into a database that holds an archive already: refused, nothing changed.
    again = run(polled, "archive", "copy", "--to", postgres_url, code=1)
    assert "the target archive is not empty" in again
