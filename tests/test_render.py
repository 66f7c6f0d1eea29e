"""Rendering messages as text and HTML: content, highlighting, and safety against hostile text."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import urlsplit

import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.notify.message import AlertItem, Message
from monitor.notify.render import clean_header, format_time, render_html, render_text, safe_link

PUBLISHED = datetime(2024, 5, 1, 14, 3, 59, tzinfo=UTC)
SNIPPET = "Officials said the human rights dialogue would resume before the MFN vote."
RIGHTS = (SNIPPET.index("human"), SNIPPET.index(" dialogue"))
MFN = (SNIPPET.index("MFN"), SNIPPET.index("MFN") + 3)


def item(**changes: object) -> AlertItem:
    base = AlertItem(
        story_id="0123456789abcdef",
        topic="china-rights",
        headline="U.S. and China resume human rights talks",
        url="https://news.example.org/world/china-talks?id=7&src=rss",
        sources=("Example Wire", "Daily Planet", "Gazette"),
        published=PUBLISHED,
        snippet=SNIPPET,
        snippet_terms=(RIGHTS, MFN),
        terms=(),
        why='matched "human rights", MFN',
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def alert(*items: AlertItem, topic: str = "china-rights") -> Message:
    return Message(
        id="a1b2c3d4e5f60718",
        kind="alert",
        topic=topic,
        items=items or (item(),),
        created=PUBLISHED,
    )


# --- the HTML safety check, shared with the email tests ----------------------------------

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "body", "div", "p", "h1", "h2", "a", "mark", "strong",
    "ol", "li", "br",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"style", "href", "charset"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.other: list[str] = []  # comments, declarations other than the doctype, PIs

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        if decl.lower() != "doctype html":
            self.other.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.other.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.other.append(f"declaration {data!r}")


def _check_element(tag: str, attrs: list[tuple[str, str | None]]) -> list[str]:
    problems = []
    if tag not in ALLOWED_TAGS:
        problems.append(f"element <{tag}>")
    for name, value in attrs:
        value = value or ""
        if name not in ALLOWED_ATTRIBUTES or name.startswith("on") or name == "src":
            problems.append(f"attribute {name}= on <{tag}>")
        if name == "href":
            parts = urlsplit(value)
            if tag != "a" or parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(f"href {value!r} on <{tag}>")
            if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in value):
                problems.append(f"href {value!r} has spaces or control characters")
        if name == "style" and any(bad in value.lower() for bad in ("url(", "expression", "@")):
            problems.append(f"style {value!r}")
    return problems


def html_problems(document: str) -> list[str]:
    """Everything in ``document`` that is not plain, inert, locally styled markup."""
    collector = _Collector()
    collector.feed(document)
    collector.close()
    problems = list(collector.other)
    for tag, attrs in collector.elements:
        problems += _check_element(tag, attrs)
    # A second, browser-like parser: lxml (libxml2's HTML parser).
    root = lxml.html.document_fromstring(document)
    for element in root.iter():
        if not isinstance(element.tag, str):
            problems.append(f"lxml: non-element node {element!r}")
            continue
        attrs = [(str(k), str(v)) for k, v in element.attrib.items()]
        problems += [f"lxml: {p}" for p in _check_element(element.tag, attrs)]
    return problems


def html_text(document: str) -> str:
    collector = _Collector()
    collector.feed(document)
    collector.close()
    return "".join(collector.text)


def links(document: str) -> list[str]:
    collector = _Collector()
    collector.feed(document)
    return [v or "" for t, attrs in collector.elements if t == "a" for k, v in attrs if k == "href"]


# --- content ---------------------------------------------------------------------------


def test_alert_text_shows_everything() -> None:
    text = render_text(alert())
    assert text.startswith("U.S. and China resume human rights talks\n")
    assert "Source: Example Wire, also reported by Daily Planet, Gazette" in text
    assert "Published: 2024-05-01 14:03 UTC" in text
    assert "Link: https://news.example.org/world/china-talks?id=7&src=rss" in text
    assert "the *human rights* dialogue would resume before the *MFN* vote." in text
    assert 'Why: matched "human rights", MFN' in text
    assert "topic: china-rights" in text


def test_alert_html_shows_everything() -> None:
    page = render_html(alert())
    assert html_problems(page) == []
    url = "https://news.example.org/world/china-talks?id=7&src=rss"
    assert links(page) == [url, url]  # the headline and the link line
    assert 'href="https://news.example.org/world/china-talks?id=7&amp;src=rss"' in page
    assert "<strong>human rights</strong></mark>" in page
    assert "<strong>MFN</strong></mark>" in page
    text = html_text(page)
    assert "Example Wire, also reported by Daily Planet, Gazette" in text
    assert "2024-05-01 14:03 UTC" in text
    assert 'Why: matched "human rights", MFN' in text


def test_single_source_has_no_also_reported() -> None:
    message = alert(item(sources=("Example Wire",)))
    assert "Source: Example Wire\n" in render_text(message)
    assert "also reported" not in render_html(message)


def test_published_time_is_shown_in_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert format_time(datetime(2024, 5, 1, 9, 3, tzinfo=eastern)) == "2024-05-01 14:03 UTC"
    assert format_time(datetime(2024, 5, 1, 14, 3)) == "2024-05-01 14:03 UTC"  # naive is UTC
    assert format_time(datetime.min.replace(tzinfo=timezone(timedelta(hours=5))))  # no overflow


def test_overlapping_and_invalid_spans_are_merged_or_ignored() -> None:
    start, end = RIGHTS
    terms = ((start, end), (start + 4, end + 5), (-1, 4), (60, 999), (10, 10), (40, 30))
    message = alert(item(snippet_terms=terms))
    assert "the *human rights dial*ogue" in render_text(message)
    assert render_html(message).count("<mark") == 1


def test_digest_lists_every_item() -> None:
    items = tuple(
        item(headline=f"Story number {n}", url=f"https://example.org/{n}") for n in range(3)
    )
    digest = Message(id="d1", kind="digest", topic="china-rights", items=items, created=PUBLISHED)
    text = render_text(digest)
    assert text.startswith("3 new stories for china-rights")
    for n in range(3):
        assert f"{n + 1}. Story number {n}" in text
        assert f"https://example.org/{n}" in text
    assert text.count("also reported by Daily Planet, Gazette") == 3
    page = render_html(digest)
    assert html_problems(page) == []
    assert links(page) == [f"https://example.org/{n}" for n in range(3)]
    assert page.count("<li") == 3
    assert page.count("<strong>human rights</strong>") == 3


@pytest.mark.parametrize("kind", ["test", "health"])
def test_test_and_health_messages_show_title_and_text(kind: str) -> None:
    message = Message(
        id="t1",
        kind=kind,  # type: ignore[arg-type]
        topic="",
        created=PUBLISHED,
        title="Test alert from desk",
        text="If you can read this, <email> works.\nSecond line.",
    )
    text = render_text(message)
    assert text.startswith("Test alert from desk\n\nIf you can read this, <email> works.\n")
    page = render_html(message)
    assert html_problems(page) == []
    assert "&lt;email&gt; works.<br>" in page
    assert "Test alert from desk" in html_text(page)


# --- links -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "https:alert(1)",
        "https://exa mple.org/",
        "",
    ],
)
def test_only_http_urls_become_links(url: str) -> None:
    assert safe_link(url) is None
    page = render_html(alert(item(url=url)))
    assert links(page) == []
    assert html_problems(page) == []
    if url.strip():
        assert "Link (not a web address):" in html_text(page)


def test_http_urls_are_escaped_in_href() -> None:
    url = 'https://example.org/a?q="x"&r=<y>'
    page = render_html(alert(item(url=url)))
    assert links(page) == [url, url]
    assert "&quot;x&quot;&amp;r=&lt;y&gt;" in page


# --- hostile text ----------------------------------------------------------------------

HOSTILE = [
    "\r\n",
    "\r",
    "\n",
    "\x85",
    "\u2028",
    "\u2029",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "\t",
    '"',
    "'",
    "&amp;",
    "&#x3C;script&#x3E;",
    "<script>alert(1)</script>",
    "<a href=javascript:alert(1)>x</a>",
    '<a href="javascript:alert(1)">',
    "<img src=http://tracker/x.gif>",
    '<img src="http://tracker/x.gif" width=1 height=1>',
    "<svg onload=alert(1)>",
    '" onmouseover="alert(1)',
    "<style>body{background:url(http://tracker/x)}</style>",
    "<!-- comment -->",
    "<![CDATA[x]]>",
    "<?xml x?>",
    "<iframe src=//evil>",
    "</p></div></body>",
    "=?utf-8?q?a=0D=0AX-Evil:_1?=",
    "\r\nBcc: victim@example.org",
    "\nX-Injected: yes",
    "javascript:alert(1)",
]
LONG = "A very long headline " * 500  # 10,500 characters

hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)), max_size=8).map(
    "".join
)
hostile_urls = st.one_of(
    st.sampled_from(
        [
            "javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            'https://example.org/?a=1&b="2"\'',
            "http://example.org/<script>",
        ]
    ),
    hostile_text,
)
spans = st.lists(st.tuples(st.integers(-3, 80), st.integers(-3, 80)), max_size=4).map(tuple)
zones = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])


@st.composite
def hostile_items(draw: st.DrawFn) -> AlertItem:
    return AlertItem(
        story_id="0123456789abcdef",
        topic=draw(hostile_text),
        headline=draw(st.one_of(hostile_text, st.just(LONG + "<script>x</script>"))),
        url=draw(hostile_urls),
        sources=tuple(draw(st.lists(hostile_text, max_size=3))),
        published=draw(st.datetimes(timezones=zones)),
        snippet=draw(hostile_text),
        snippet_terms=draw(spans),
        terms=(),
        why=draw(hostile_text),
    )


@st.composite
def hostile_messages(draw: st.DrawFn) -> Message:
    kind = draw(st.sampled_from(["alert", "digest", "test", "health"]))
    return Message(
        id=draw(st.sampled_from(["a1b2c3d4e5f60718", "f" * 64])),
        kind=kind,
        topic=draw(hostile_text),
        items=tuple(draw(st.lists(hostile_items(), min_size=kind == "alert", max_size=3))),
        created=PUBLISHED,
        title=draw(hostile_text),
        text=draw(hostile_text),
    )


def assert_safe_text(text: str) -> None:
    """No control, separator or format characters but newlines and joiners (ZWNJ, ZWJ)."""
    allowed = {"\n", "\u200c", "\u200d"}
    categories = ("Cc", "Cf", "Cs", "Zl", "Zp")
    bad = [ch for ch in text if ch not in allowed and unicodedata.category(ch) in categories]
    assert bad == [], bad


@pytest.mark.parametrize("fragment", [*HOSTILE, LONG])
def test_hostile_fixed_cases(fragment: str) -> None:
    hostile = item(
        headline=f"Headline {fragment} end",
        snippet=f"before {fragment} human rights after",
        snippet_terms=((0, 6), (len(fragment) + 8, len(fragment) + 20)),
        sources=(f"Wire {fragment}", f"Other {fragment}"),
        why=f"matched {fragment}",
        url=fragment if "script" in fragment else "https://example.org/x",
    )
    for message in (alert(hostile, topic=f"t{fragment}"), replace(alert(hostile), kind="digest")):
        page = render_html(message)
        assert html_problems(page) == []
        assert len(links(page)) <= 2
        text = render_text(message)
        assert_safe_text(text)
        assert_safe_text(html_text(page))
        if fragment.startswith("<"):  # markup from the story is shown as text
            assert fragment in html_text(page)
            assert fragment in text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_messages())
def test_hostile_messages_render_safely(message: Message) -> None:
    page = render_html(message)
    assert html_problems(page) == []
    assert_safe_text(html_text(page))
    assert_safe_text(render_text(message))
    for href in links(page):
        assert href in {i.url.strip() for i in message.items}


# --- clean_header ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("a\r\nBcc: x@example.org", "a Bcc: x@example.org"),
        ("a\rb\nc\x85d\u2028e\u2029f", "a b c d e f"),
        ("nul\x00byte\x1b[31m", "nul byte [31m"),
        ("bidi\u202eevil\ufeff\u200b", "bidievil"),
        ("  many \t\t spaces  ", "many spaces"),
        ("", ""),
    ],
)
def test_clean_header(raw: str, expected: str) -> None:
    assert clean_header(raw, 100) == expected


def test_clean_header_truncates_at_a_word_boundary() -> None:
    assert clean_header("the quick brown fox jumps", 15) == "the quick\u2026"
    assert clean_header("x" * 50, 10) == "x" * 9 + "\u2026"
    assert len(clean_header(LONG, 200)) <= 200


@given(st.text(), st.integers(1, 300))
def test_clean_header_is_one_bounded_line(raw: str, limit: int) -> None:
    out = clean_header(raw, limit)
    assert len(out) <= limit
    assert out == out.strip()
    assert "  " not in out
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") for ch in out)
    assert not any(ch.isspace() and ch != " " for ch in out)
    assert out.splitlines() in ([out], [])
