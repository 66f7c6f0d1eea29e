"""Article extraction: news pages with chrome, metadata, pathological pages, the CLI.

The fixture pages in fixtures/extraction are from Mozilla Readability's test suite
(Apache-2.0, see LICENSE-readability.md there), gzipped.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.articles import extract as extract_module
from monitor.articles.extract import MAX_BYTES, Article, decode, extract_article
from monitor.articles.meta import parse_time
from monitor.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "extraction"


def page(name: str) -> bytes:
    return gzip.decompress((FIXTURES / f"{name}.html.gz").read_bytes())


def own(html: str | bytes, url: str | None = None) -> Article:
    """Our own extractor only: the core, as it runs without trafilatura."""
    return extract_article(html, url=url, use_trafilatura=False)


# name, headline, body start, body end, chrome that must not be in the body
NEWS = [
    (
        "bbc-1",
        "Obama admits US gun laws are his 'biggest frustration'",
        'President Barack Obama has admitted that his failure to pass "common sense gun',
        "when he travels on to Ethiopia on Sunday.",
        ["Share this page", "Related Topics", "Media playback is unsupported", "Image copyright"],
    ),
    (
        "wapo-1",
        "Attack stokes instability fears in North Africa",
        "CAIRO \u2014 Gunmen opened fire on visitors at Tunisia\u2019s most renowned museum",
        "Heba Habib contributed to this report.",
        [
            "Read more:",
            "Tunisia\u2019s Islamists get a sobering lesson in governing",
            "[Bardo museum houses amazing Roman treasures]",
            "Most Read World",
            "Sign In",
            "Daily Crossword",
            "By Erin Cunningham March 18",
        ],
    ),
    (
        "seattletimes-1",
        "Alaskan halibut, caught by a century-old Seattle boat, provides a glimpse of "
        "Amazon\u2019s strategy with Whole Foods",
        "From the deck of his 106-year-old halibut schooner",
        "\u201cIt\u2019s Seattle old school meets Seattle new school with Amazon.\u201d",
        [
            "Skip to content",
            "Most Read Business Stories",
            "Seattle Times business reporter",
            "April 28, 2019 at 6:01 am",
        ],
    ),
    (
        "telegraph",
        "Zimbabwe coup: Robert Mugabe and wife Grace 'insisting he finishes his term', as "
        "priest steps in to mediate",
        "Zimbabwe President Robert Mugabe, his wife Grace and two key figures",
        "economic policies Mr Mugabe's critics have long blamed on him.",
        ["We've noticed you're adblocking", "Click here for instructions", "Need help?"],
    ),
]


@pytest.mark.parametrize(("name", "headline", "start", "end", "chrome"), NEWS)
def test_news_page_gives_headline_and_body_without_chrome(
    name: str, headline: str, start: str, end: str, chrome: list[str]
) -> None:
    article = own(page(name))
    assert article.method == "readability"
    assert article.headline == headline
    assert article.paragraphs[0].startswith(start)
    assert article.paragraphs[-1].endswith(end)
    assert len(article.paragraphs) >= 10
    body = article.body
    for furniture in chrome:
        assert furniture not in body, furniture
    assert headline not in article.paragraphs  # not repeated as the first paragraph
    for paragraph in article.paragraphs:  # story format: one clean line each
        assert paragraph == paragraph.strip() and "\n" not in paragraph and "  " not in paragraph
        assert "\x01" not in paragraph and "\x02" not in paragraph


def test_published_time_and_author_from_the_page() -> None:
    bbc = own(page("bbc-1"))
    assert bbc.published == datetime(2015, 7, 24, 4, 36, 9, tzinfo=UTC)
    assert bbc.published.tzinfo is not None
    assert own(page("telegraph")).published == datetime(2017, 11, 16, 14, 15, tzinfo=UTC)
    wapo = own(page("wapo-1"))
    assert wapo.published is None  # the page states no machine-readable time
    assert wapo.author == "Erin Cunningham"  # from its byline markup
    parsely = own(page("parsely-metadata"))
    assert parsely.headline == "Some Other Title"
    assert parsely.published == datetime(2024, 4, 20, 4, 20, tzinfo=UTC)
    assert parsely.author == "Jane Doe"


PROSE = "".join(
    f"<p>Paragraph {i} of the story says something useful, at length, with commas, "
    f"so that it reads like an article and scores like one.</p>"
    for i in range(8)
)


def test_json_ld_beats_meta_tags() -> None:
    html = f"""<html><head><title>Site | Page</title>
    <meta property="og:title" content="OpenGraph headline">
    <meta property="article:published_time" content="2020-01-01T00:00:00Z">
    <meta name="author" content="Meta Author">
    <script type="application/ld+json">
    {{"@context": "https://schema.org", "@graph": [
      {{"@type": "WebSite", "name": "Site"}},
      {{"@type": ["NewsArticle"], "headline": "JSON-LD headline",
        "datePublished": "2024-03-05T06:07:08+0100",
        "author": [{{"@type": "Person", "name": "Ann Able"}}, {{"name": "Bob Baker"}}]}}
    ]}}
    </script></head><body><article><h1>JSON-LD headline</h1>{PROSE}</article></body></html>"""
    article = own(html)
    assert article.headline == "JSON-LD headline"
    assert article.published == datetime(2024, 3, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=1)))
    assert article.author == "Ann Able, Bob Baker"
    assert article.paragraphs[0].startswith("Paragraph 0 of the story")  # h1 not repeated
    assert len(article.paragraphs) == 8


def test_meta_tags_and_title_fallbacks() -> None:
    html = f"""<html><head><title>The real headline of the piece - Example News</title>
    <meta name="parsely-pub-date" content="2021-06-01">
    <meta property="article:author" content="https://example.com/staff/x">
    </head><body><main>{PROSE}<time datetime="2019-01-01">old</time></main></body></html>"""
    article = own(html)
    assert article.headline == "The real headline of the piece"
    assert article.published == datetime(2021, 6, 1, tzinfo=UTC)
    assert article.author is None  # an author URL is not a name
    when = "<time datetime='2019-01-02T03:04:05Z'></time>"
    bare = own(f"<html><body><h1>Only an h1</h1>{when}{PROSE}")
    assert bare.headline == "Only an h1"
    assert bare.published == datetime(2019, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-04-05T06:00", datetime(2018, 4, 5, 6, 0, tzinfo=UTC)),
        ("2017-11-03 03:01:00.000000", datetime(2017, 11, 3, 3, 1, tzinfo=UTC)),
        ("2015-03-27T13:07:55.096Z", datetime(2015, 3, 27, 13, 7, 55, 96000, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 06:07:08 GMT", datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)),
        ("2024-06-25", datetime(2024, 6, 25, tzinfo=UTC)),
        ("yesterday", None),
        ("0001-01-01", None),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_decoding() -> None:
    text = "<p>Zürich \u2013 \u201cquoted\u201d</p>"
    assert "Zürich \u2013 \u201cquoted\u201d" in decode(text.encode())
    labelled = f'<meta charset="iso-8859-1">{text}'.encode()
    assert "Zürich" in decode(labelled)  # valid UTF-8 wins over a stale label
    latin = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    assert "Zürich \u2013 \u201cquoted\u201d" in decode(latin.encode() + text.encode("cp1252"))
    assert "Zürich" in decode(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert "Zürich" in decode(text.encode("utf-16"))
    assert decode("<p>Zürich</p>".encode("latin-1") + b"\x81") == "<p>Zürich</p>\ufffd"
    assert decode("a\x00b") == "ab"
    cut = ("é" * MAX_BYTES).encode("utf-8")[: MAX_BYTES + 1]
    assert set(decode(cut)) == {"é"}  # a character split by the byte cap is dropped


@pytest.mark.parametrize("label", ["rot13", "hex", "base64", "utf-7", "nonsense", "x" * 60])
def test_odd_charset_labels(label: str) -> None:
    assert "Zürich" in decode(f'<meta charset="{label}"><p>Zürich</p>'.encode("cp1252"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            ["<p>", "</p>", "<div class='related'>", "</div>", "<!--", "-->", "<script>",
             "<a href='#'>", "</a>", "<br>", "<table><tr><td>", "\x00", "&amp;", "&#0;",
             "<?xml version='1.0' encoding='latin-1'?>", "<meta charset='utf-16'>",
             '<script type="application/ld+json">{"@context":"https://schema.org",'
             '"@type":"NewsArticle","datePublished":"2024-99-99","author":[[[]]]}</script>',
             "<title>A - B | C</title>", "<h1>", "</h1>", "\ud800", "\u2028", "\ufeff",
             "\x08", "\x1f", "\ufffe", "<div>\x0b</div>tail\x01"]
        )
        | st.text(max_size=30),
        max_size=40,
    ),
    st.booleans(),
)  # fmt: skip
def test_never_raises(parts: list[str], as_bytes: bool) -> None:
    html = "".join(parts)
    data = html.encode("utf-8", "surrogatepass") if as_bytes else html
    article = own(data)
    assert isinstance(article, Article)
    for paragraph in article.paragraphs:
        assert paragraph and "\n" not in paragraph


def _nested(n: int) -> str:
    return "<html><body>" + "<div>" * n + "deep" + "</div>" * n + "</body></html>"


PATHOLOGICAL = {
    "nested elements": _nested(100_000),
    "nested inline": "<body><p>" + "<span><b>" * 50_000 + "x" + "</b></span>" * 50_000,
    "megabytes of text": "<body><article><p>" + "word, " * 900_000 + "</p></article>",
    "megabytes of text in chrome": "<body><nav>" + "menu " * 900_000 + "</nav><p>Hi.</p>",
    "NUL bytes": ("<body><p>" + "a\x00b " * 300_000 + "</p>").encode(),
    "unclosed comment": "<body><p>A sentence before, as a story.</p><!-- " + "x" * 3_000_000,
    "unclosed script": "<body><p>A sentence.</p><script>" + "var x = '<p>';" * 200_000,
    "over the byte cap": b"<body><p>" + b"y " * 6_000_000,
    "many paragraphs": "<body>" + "<p>Some words here, and more.</p>" * 150_000,
    "many link blocks": "<body>" + "<div><a href='#'>x</a></div>" * 200_000,
    "long class names": "<body><div class='" + "related " * 500_000 + "'><p>Text.</p></div>",
    "nested tables": "<body>" + "<table><tr><td>" * 20_000 + "x" + "</td></tr></table>" * 20_000,
    "deep JSON-LD": '<script type="application/ld+json">' + "[" * 100_000 + "]" * 100_000,
    "binary": bytes(range(256)) * 4000,
    "empty": "",
    "only whitespace": " \n\t ",
    "not html": "just some plain text, no markup at all.",
}


@pytest.mark.parametrize("trafilatura", [False, True], ids=["own", "auto"])
@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_pages_are_bounded(name: str, trafilatura: bool) -> None:
    # A guard against a hang (quadratic or worse), not a speed target: CPU time, so a busy
    # machine does not count, with a bound far above the fraction of a second it takes.
    start = time.process_time()
    article = extract_article(PATHOLOGICAL[name], use_trafilatura=trafilatura)
    elapsed = time.process_time() - start
    assert elapsed < 20.0, f"{name}: {elapsed:.2f}s of CPU"
    assert isinstance(article, Article)
    assert sum(map(len, article.paragraphs)) <= extract_module.MAX_TEXT


def test_pathological_results_are_sensible() -> None:
    assert own(PATHOLOGICAL["unclosed comment"]).paragraphs == ("A sentence before, as a story.",)
    assert own(PATHOLOGICAL["NUL bytes"]).paragraphs[0].startswith("ab ab ab")
    assert own("").paragraphs == () and own("").method == "empty"
    text = own("<body><p>Text.</p>\x00<p>More text after a NUL.</p></body>").body
    assert "More text after a NUL." in text


@pytest.fixture
def no_trafilatura(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """trafilatura as an install without it has it: its import fails."""
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # None there: ImportError
    extract_module.trafilatura_module.cache_clear()
    yield
    extract_module.trafilatura_module.cache_clear()


def test_forced_fallback_and_missing_trafilatura(
    no_trafilatura: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert extract_article(page("bbc-1")).method == "readability"
    html = f"<html><body><article>{PROSE}</article></body></html>"
    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING):
        # Ours finds nothing, so trafilatura is wanted, and cannot be had.
        patch.setattr(extract_module, "readability_article", lambda body, deadline: None)
        forced = extract_article(html, use_trafilatura=False)
        missing = extract_article(html)
        assert extract_article(html) == missing
    assert forced == missing
    assert missing.method == "empty" and missing.paragraphs == ()
    warnings = [r for r in caplog.records if "cannot be imported" in r.getMessage()]
    assert len(warnings) == 1  # once per process, not once per page


def test_trafilatura_is_a_dependency_imported_when_first_needed() -> None:
    requirements = importlib.metadata.requires("news-monitor") or []
    for name in ("trafilatura", "lxml_html_clean"):
        assert any(r.startswith(name) and "extra ==" not in r for r in requirements), name
    # The CLI and the parse workers load this module; most pages never need trafilatura.
    code = "import sys, monitor.cli.main; print('trafilatura' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_trafilatura_rescues_what_ours_misses(monkeypatch: pytest.MonkeyPatch) -> None:
    html = f"<html><body><article>{PROSE}</article></body></html>"
    monkeypatch.setattr(extract_module, "readability_article", lambda body, deadline: None)
    article = extract_article(html)
    assert article.method == "trafilatura"
    assert article.paragraphs[0].startswith("Paragraph 0 of the story")
    assert own(html).method == "empty"


def test_with_trafilatura_news_pages_still_read_well() -> None:
    for name, headline, start, _end, chrome in NEWS:
        article = extract_article(page(name))
        assert article.headline == headline
        assert article.paragraphs[0].startswith(start)
        assert not any(c in article.body for c in chrome)


@pytest.fixture
def pages(tmp_path: Path) -> list[Path]:
    paths = []
    for name in ("bbc-1", "parsely-metadata"):
        path = tmp_path / f"{name}.html"
        path.write_bytes(page(name))
        paths.append(path)
    return paths


def test_cli_story_format(pages: list[Path]) -> None:
    result = CliRunner().invoke(main, ["extract", str(pages[0])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    paragraphs = result.output.rstrip("\n").split("\n\n")
    assert paragraphs[0] == "Obama admits US gun laws are his 'biggest frustration'"
    assert paragraphs[1].startswith("President Barack Obama has admitted")
    assert all(p and "\n" not in p for p in paragraphs)


def test_cli_json_lines(pages: list[Path]) -> None:
    args = ["extract", "--json", "--url", "https://www.bbc.com/news/x", *map(str, pages)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in pages]
    bbc, parsely = records
    assert set(bbc) == {"path", "headline", "body", "published", "author"}
    assert bbc["headline"] == "Obama admits US gun laws are his 'biggest frustration'"
    assert bbc["body"].startswith("President Barack Obama has admitted")
    assert "\n\n" in bbc["body"]
    assert bbc["published"] == "2015-07-24T05:36:09+01:00"
    assert parsely["author"] == "Jane Doe"
    assert parsely["published"] == "2024-04-20T04:20:00+00:00"


def test_cli_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["extract", str(tmp_path / "nope.html")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
