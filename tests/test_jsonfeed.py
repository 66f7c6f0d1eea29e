"""JSON Feed 1.0 and 1.1: read into the same Entries as RSS and Atom items."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import FeedParseError
from monitor.parse.feed import ParsedFeed, parse_feed
from monitor.text.tokens import tokenize
from monitor.types import Entry

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FETCHED = "https://fetch.example/feeds/main.json"
FIXTURES = Path(__file__).parent / "fixtures" / "jsonfeed"
V1 = "https://jsonfeed.org/version/1"
V11 = "https://jsonfeed.org/version/1.1"


def parse(document: Any, *, url: str = FETCHED, **headers: str) -> ParsedFeed:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_feed(data, url=url, headers=headers, now=NOW)


def one(item: dict[str, Any], **feed: Any) -> Entry:
    (entry,) = parse({"version": V11, "title": "T", **feed, "items": [item]}).entries
    return entry


def text_of(entry: Entry) -> str:
    return " ".join([entry.headline, *entry.paragraphs])


# -- the formats -----------------------------------------------------------------------------------

FEED_11 = {
    "version": V11,
    "title": "Harbour &amp; Coast",
    "home_page_url": "https://news.example/",
    "feed_url": "https://news.example/feed.json",
    "language": "en-GB",
    "authors": [{"name": "Desk One"}, {"name": "Desk Two", "url": "https://news.example/2"}],
    "items": [
        {
            "id": "tag:news.example,2026:1",
            "url": "/2026/10/harbour",
            "title": "Harbour reopens after the storm",
            "content_html": (
                "<p>The harbour reopened on <b>Tuesday</b> morning after the storm.</p>"
                "<p>Fishing boats left at dawn, the first in a week.</p>"
            ),
            "content_text": "The harbour reopened on Tuesday.",
            "summary": "Harbour open again.",
            "date_published": "2026-10-27T08:30:00+01:00",
            "date_modified": "2026-10-27T09:00:00Z",
            "authors": [{"name": "Ana Lima"}, {"name": "Ben Ito"}],
        },
        {
            "id": 42,
            "external_url": "https://elsewhere.example/ferries",
            "title": "Ferries run late",
            "content_text": "Ferries ran an hour late on Monday.\n\nThe operator blamed the wind.",
            "date_modified": "2026-10-26T18:00:00.250-05:00",
        },
        {"id": "3", "summary": "Only a summary, with a few plain words in it."},
    ],
}

FEED_10 = {
    "version": V1,
    "title": "Valley Post",
    "home_page_url": "http://valley.example/",
    "author": {"name": "The Valley Post"},
    "items": [
        {
            "id": "http://valley.example/apples",
            "url": "http://valley.example/apples",
            "title": "Early apple harvest",
            "content_html": "<p>Farmers in the valley expect an early harvest of apples.</p>",
            "date_published": "2026-09-01T06:00:00-07:00",
            "author": {"name": "Cleo Park", "url": "http://valley.example/cleo"},
        },
        {
            "id": "http://valley.example/bridge",
            "url": "http://valley.example/bridge",
            "content_text": "The old bridge closes for repairs next week.",
        },
    ],
}


def test_json_feed_11_items_become_entries() -> None:
    feed = parse(FEED_11, **{"Content-Type": "application/feed+json"})
    assert feed.title == "Harbour & Coast" and feed.warning is None and feed.ttl is None
    first, second, third = feed.entries
    assert first.guid == "tag:news.example,2026:1"
    assert first.link == first.url == "https://news.example/2026/10/harbour"
    assert first.headline == "Harbour reopens after the storm"
    # The fullest of content_html, content_text and summary.
    assert first.paragraphs == (
        "The harbour reopened on Tuesday morning after the storm.",
        "Fishing boats left at dawn, the first in a week.",
    )
    assert first.published == datetime(2026, 10, 27, 7, 30, tzinfo=UTC)
    assert first.author == "Ana Lima, Ben Ito"
    # A number as the id is its text; external_url is the link when there is no url;
    # date_modified stands in for a missing date_published; the feed's authors are an
    # item's when it names none.
    assert second.guid == "42"
    assert second.link == "https://elsewhere.example/ferries"
    assert second.paragraphs == (
        "Ferries ran an hour late on Monday.",
        "The operator blamed the wind.",
    )
    # Whole seconds, as feedparser's dates for RSS and Atom.
    assert second.published == datetime(2026, 10, 26, 23, 0, 0, tzinfo=UTC)
    assert second.author == "Desk One, Desk Two"
    assert third.headline == "Only a summary, with a few plain words in it."
    assert third.link == "" and third.published is None


def test_json_feed_10_items_become_entries() -> None:
    first, second = parse(FEED_10).entries
    assert parse(FEED_10).title == "Valley Post"
    assert (first.guid, first.link) == ("http://valley.example/apples",) * 2
    assert first.headline == "Early apple harvest"
    assert first.paragraphs == ("Farmers in the valley expect an early harvest of apples.",)
    assert first.published == datetime(2026, 9, 1, 13, 0, tzinfo=UTC)
    assert first.author == "Cleo Park"
    assert second.headline == "The old bridge closes for repairs next week."
    assert second.author == "The Valley Post"


@pytest.mark.parametrize(
    ("prefix", "encoding"),
    [
        (b"", "utf-8"),
        (b"\n \t\r\n", "utf-8"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF8 + b"\n  ", "utf-8"),
        (b"", "utf-16-le"),
        (b"", "utf-16-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
@pytest.mark.parametrize(
    "content_type", [None, "application/json", "text/plain", "application/rss+xml"]
)
def test_recognised_by_content_whatever_the_content_type(
    prefix: bytes, encoding: str, content_type: str | None
) -> None:
    text = json.dumps(FEED_10, ensure_ascii=False)
    data = prefix + ("\n" if prefix.strip() else "").encode(encoding) + text.encode(encoding)
    headers = {"Content-Type": content_type} if content_type else {}
    feed = parse(data, **headers)
    assert [e.headline for e in feed.entries] == [
        "Early apple harvest",
        "The old bridge closes for repairs next week.",
    ]


def test_http_version_and_unknown_versions_are_read() -> None:
    for version in (
        "http://jsonfeed.org/version/1",
        "https://jsonfeed.org/version/2",
        "https://www.jsonfeed.org/version/1.1/",
        "HTTPS://JSONFeed.org/version/1",
    ):
        feed = parse({**FEED_10, "version": version})
        assert len(feed.entries) == 2 and feed.warning is None


def test_no_version_but_items_is_read_with_a_warning() -> None:
    feed = parse({"items": [{"id": "1", "title": "Untagged"}]})
    assert [e.headline for e in feed.entries] == ["Untagged"]
    assert feed.warning == "no JSON Feed version; read for its items"


def test_legacy_encodings_keep_their_letters() -> None:
    text = json.dumps({**FEED_10, "title": "Caf\u00e9 \u201cnews\u201d"}, ensure_ascii=False)
    assert parse(text.encode("cp1252")).title == "Caf\u00e9 \u201cnews\u201d"
    russian = "\u041d\u043e\u0432\u043e\u0441\u0442\u0438"
    data = json.dumps({**FEED_10, "title": russian}, ensure_ascii=False).encode("koi8-r")
    assert parse(data, **{"Content-Type": "application/json; charset=koi8-r"}).title == russian


# -- links, ids, dates, authors, text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed", "url", "expected"),
    [
        (
            {"home_page_url": "https://site.example/blog/"},
            "post/1",
            "https://site.example/blog/post/1",
        ),
        ({"home_page_url": "/blog/"}, "post/1", "https://fetch.example/blog/post/1"),
        ({"feed_url": "https://cdn.example/f/feed.json"}, "/a", "https://cdn.example/a"),
        ({"home_page_url": "mailto:x@y.example"}, "/a", "https://fetch.example/a"),
        ({"home_page_url": ["not", "a", "string"]}, "b", "https://fetch.example/feeds/b"),
        ({}, "../c?x=1", "https://fetch.example/c?x=1"),
        ({}, "https://other.example/d", "https://other.example/d"),
        ({}, "  https://other.example/e  ", "https://other.example/e"),
        ({}, "javascript:alert(1)", ""),
        ({}, "http://[::1", ""),
    ],
)
def test_relative_links_are_resolved(feed: dict[str, Any], url: str, expected: str) -> None:
    assert one({"title": "x", "url": url}, **feed).link == expected


def test_a_bad_url_falls_back_to_external_url() -> None:
    entry = one({"title": "x", "url": "javascript:void(0)", "external_url": "/ext"})
    assert entry.link == "https://fetch.example/ext"


@pytest.mark.parametrize(
    ("raw_id", "guid"),
    [
        ('"abc"', "abc"),
        ('"  padded  "', "padded"),
        ("7", "7"),
        ("-0", "-0"),
        ("3.1415", "3.1415"),
        ("1e3", "1e3"),
        ("1" * 5000, "1" * 5000),  # past Python's 4300-digit limit for int()
        ("1e999", "1e999"),  # past a float's range
        ('""', None),
        ("true", None),
        ("null", None),
        ('{"a": 1}', None),
        ("[1]", None),
    ],
)
def test_ids_are_strings_and_numbers_as_written(raw_id: str, guid: str | None) -> None:
    data = f'{{"version": "{V11}", "items": [{{"id": {raw_id}, "title": "x"}}]}}'
    (entry,) = parse(data.encode()).entries
    assert entry.guid == guid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-27T08:30:00Z", datetime(2026, 10, 27, 8, 30, tzinfo=UTC)),
        ("2026-10-27t08:30:00z", datetime(2026, 10, 27, 8, 30, tzinfo=UTC)),
        ("2026-10-27 08:30:00+02:00", datetime(2026, 10, 27, 6, 30, tzinfo=UTC)),
        ("2026-10-27T08:30:00-0330", datetime(2026, 10, 27, 12, 0, tzinfo=UTC)),
        ("2026-10-27T08:30:00.999999999Z", datetime(2026, 10, 27, 8, 30, tzinfo=UTC)),
        ("2026-10-27T08:30Z", datetime(2026, 10, 27, 8, 30, tzinfo=UTC)),
        ("2026-10-27T08:30:00", datetime(2026, 10, 27, 8, 30, tzinfo=UTC)),
        ("2026-10-27", datetime(2026, 10, 27, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (" 2026-10-27T08:30:00Z ", datetime(2026, 10, 27, 8, 30, tzinfo=UTC)),
        # As some feeds write them: RFC 2822.
        ("Tue, 27 Oct 2026 08:30:00 -0700", datetime(2026, 10, 27, 15, 30, tzinfo=UTC)),
        ("Tue, 27 Oct 2026 08:30:00 GMT", datetime(2026, 10, 27, 8, 30, tzinfo=UTC)),
        # Not believed or not dates at all: the story is dated when first seen.
        ("2026-11-05T00:00:00Z", None),  # days ahead of now
        ("1969-07-20T20:17:00Z", None),
        ("0001-01-01T00:00:00+01:00", None),
        ("9999-12-31T23:59:59-01:00", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-02-30T00:00:00Z", None),
        ("2026-10-27T25:00:00Z", None),
        ("2026-10-27T08:30:00+24:00", None),
        ("yesterday", None),
        ("", None),
        ("9" * 500, None),
        (1729999999, None),
        (None, None),
        (["2026-10-27T08:30:00Z"], None),
    ],
)
def test_dates(value: Any, expected: datetime | None) -> None:
    assert one({"title": "x", "date_published": value}).published == expected


def test_published_falls_back_to_a_believable_modified() -> None:
    item = {"title": "x", "date_published": "2999-01-01T00:00:00Z"}
    assert one({**item, "date_modified": "2026-10-01T00:00:00Z"}).published == datetime(
        2026, 10, 1, tzinfo=UTC
    )
    assert one({**item, "date_modified": "yesterday"}).published is None


@pytest.mark.parametrize(
    ("item", "feed", "author"),
    [
        ({"authors": [{"name": "A"}, {"name": " B "}, {"name": "A"}]}, {}, "A, B"),
        ({"authors": [{"name": "A"}], "author": {"name": "Old"}}, {}, "A"),
        ({"author": {"name": "Old"}}, {"authors": [{"name": "F"}]}, "Old"),
        ({}, {"authors": [{"name": "F"}, {"name": "G"}]}, "F, G"),
        ({}, {"author": {"name": "F10"}}, "F10"),
        ({"authors": "A"}, {}, None),
        ({"authors": {"name": "A"}, "author": {"name": "Old"}}, {}, "Old"),
        ({"authors": ["A", {"name": 5}, {"url": "x"}, {"name": "B"}]}, {}, "B"),
        ({"authors": [{"url": "mailto:a@b.example"}]}, {"authors": [{"name": "F"}]}, None),
        ({}, {"authors": [{"name": ""}]}, None),
        ({"authors": [{"name": "  Ana \u200b Lima\n"}]}, {}, "Ana Lima"),
    ],
)
def test_authors(item: dict[str, Any], feed: dict[str, Any], author: str | None) -> None:
    assert one({"title": "x", **item}, **feed).author == author


def test_titles_and_summaries_are_text_unless_they_carry_markup() -> None:
    assert one({"title": "AT&T <3 R&D"}).headline == "AT&T <3 R&D"
    assert one({"title": "Tom &amp; Jerry &#8211; <em>again</em>"}).headline == (
        "Tom & Jerry \u2013 again"
    )
    entry = one({"title": "x", "summary": "Less &lt;b&gt; than &amp; more."})
    assert entry.paragraphs == ("Less <b> than & more.",)
    entry = one({"title": "x", "content_text": "if a < b and c > d then <p> stays text"})
    assert entry.paragraphs == ("if a < b and c > d then <p> stays text",)


def test_every_word_of_the_item_reaches_the_entry() -> None:
    html = (
        "<p>Workers at the mill voted on Friday.</p><h2>What changes</h2>"
        "<ul><li>Shift pay rises</li><li>Night work ends</li></ul>"
        "<p>The union called it <a href='/x'>a start</a>, and <em>more</em> to come.</p>"
    )
    entry = one({"title": "Mill vote passes", "content_html": html})
    assert set(tokenize(text_of(entry))) == set(tokenize("Mill vote passes")) | _words(html)


def test_every_word_of_an_item_with_a_subheading_first_and_a_short_last_line() -> None:
    html = (
        "<h2>Inside the mill</h2><p>Workers at the mill voted on Friday.</p>"
        "<p>More on this tomorrow :)</p>"
    )
    entry = one({"title": "Mill vote passes", "content_html": html})
    assert set(tokenize(text_of(entry))) == set(tokenize("Mill vote passes")) | _words(html)


# -- robustness ------------------------------------------------------------------------------------

WRONG = [0, 1.5, 10**400, True, None, [], ["a"], {}, {"a": "b"}, ""]


@pytest.mark.parametrize("key", ["title", "content_html", "content_text", "summary", "url",
                                 "external_url", "date_published", "date_modified", "authors",
                                 "author", "id", "language", "tags", "attachments"])  # fmt: skip
@pytest.mark.parametrize("value", WRONG, ids=repr)
def test_a_field_of_the_wrong_type_is_ignored(key: str, value: Any) -> None:
    item = {
        "id": "1",
        "url": "https://e.example/1",
        "title": "Kept title",
        "content_text": "Kept body text of the item.",
    }
    entry = one({**item, key: value})
    assert entry.headline in ("Kept title", "Kept body text of the item.")
    if key not in ("url", "id"):
        assert entry.link == "https://e.example/1"


@pytest.mark.parametrize(
    "feed",
    [
        {"title": 7},
        {"title": ["x"]},
        {"home_page_url": {"not": "a string"}},
        {"feed_url": 1},
        {"authors": "x"},
        {"author": []},
        {"language": {}},
        {"items": [None, 1, "x", [], {"title": "Kept"}]},
    ],
)
def test_wrong_types_at_the_feed_level_lose_only_that_field(feed: dict[str, Any]) -> None:
    result = parse({"version": V11, "title": "T", "items": [{"title": "Kept"}], **feed})
    assert [e.headline for e in result.entries] == ["Kept"]
    assert isinstance(result.title, str)


def test_items_that_are_not_objects_are_skipped_with_a_warning() -> None:
    result = parse({"version": V11, "items": [None, 1, {"title": "Kept"}, "x"]})
    assert [e.headline for e in result.entries] == ["Kept"]
    assert result.warning == "3 items skipped (not JSON objects)"


@pytest.mark.parametrize("items", [None, "x", 1, {"title": "x"}])
def test_a_versioned_feed_whose_items_are_not_a_list_is_empty(items: Any) -> None:
    result = parse({"version": V11, "title": "T", "items": items})
    assert result.entries == () and result.warning == "items is not a list"
    assert parse({"version": V11, "title": "T"}).entries == ()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"version": ', "malformed JSON: Expecting value (line 1, column 13)"),
        (b'{"a": 1,}', "malformed JSON: Expecting property name enclosed in double quotes"),
        (b'{"a": 1}{"b": 2}', "malformed JSON: Extra data (line 1, column 9)"),
        (b"{'a': 1}", "malformed JSON: Expecting property name enclosed in double quotes"),
        (b'{"x":' * 100_000, "malformed JSON: nested too deeply"),
        (b'{"x":' + b"[" * 100_000, "malformed JSON: nested too deeply"),
        (b"{}", "a JSON document that is not a JSON Feed (no version or items)"),
        (b'{"items": {}}', "a JSON document that is not a JSON Feed (no version or items)"),
        (b'{"version": 1, "data": []}', "a JSON document that is not a JSON Feed (no version"),
        (b'{"version": "2.0", "items": []}', "a JSON document that is not a JSON Feed (version '2"),
    ],
)  # fmt: skip
def test_json_that_is_not_a_json_feed(data: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse(data)
    assert caught.value.reason.startswith(f"not a feed: {reason}"), caught.value.reason
    assert caught.value.url == FETCHED


def test_nan_infinity_and_huge_numbers_are_harmless() -> None:
    data = (
        f'{{"version": "{V11}", "title": NaN, "items": [{{"id": Infinity, "title": "x",'
        f' "date_published": -Infinity, "summary": 1e999999, "url": {"9" * 10_000}}}]}}'
    )
    (entry,) = parse(data.encode()).entries
    assert (entry.guid, entry.headline, entry.link, entry.published) == (None, "x", "", None)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
ITEM_KEYS = ["id", "url", "external_url", "title", "content_html", "content_text", "summary",
             "date_published", "date_modified", "authors", "author", "name"]  # fmt: skip
FEED_KEYS = ["version", "title", "home_page_url", "feed_url", "items", "authors", "author"]


def _json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        JSON_SCALARS
        | st.sampled_from([V1, V11, "2026-10-27T08:30:00Z", "/rel", "<p>x</p>", "&amp;"]),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.sampled_from(keys) | st.text(max_size=4), children, max_size=6)
        ),
        max_leaves=25,
    )


FEED_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from([V1, V11, "http://jsonfeed.org/version/x"]) | JSON_SCALARS,
        "items": st.lists(_json_values(ITEM_KEYS), max_size=5) | _json_values(ITEM_KEYS),
        **{key: _json_values(ITEM_KEYS) for key in FEED_KEYS if key not in ("version", "items")},
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_json_values(FEED_KEYS + ITEM_KEYS), FEED_SHAPED))
def test_any_json_value_parses_or_fails_as_not_a_feed(value: Any) -> None:
    data = json.dumps(value).encode()  # NaN and Infinity included, as some writers emit
    try:
        result = parse(data)
    except FeedParseError as exc:
        assert exc.reason.startswith("not a feed: "), exc.reason
    else:
        assert isinstance(result, ParsedFeed)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_after_a_brace_fail_only_as_not_a_feed(tail: bytes) -> None:
    try:
        parse(b"{" + tail)
    except FeedParseError as exc:
        assert exc.reason.startswith("not a feed: "), exc.reason


# -- the real JSON Feed files ----------------------------------------------------------------------


def fixture(name: str) -> ParsedFeed:
    return parse((FIXTURES / name).read_bytes())


def test_feed_rs_daring_fireball() -> None:
    feed = fixture("feed-rs/jsonfeed_example_1.json")
    assert feed.title == "Daring Fireball"
    first, second = feed.entries
    url = "https://daringfireball.net/linked/2020/01/24/bezos-iphone-x"
    assert (first.guid, first.link, first.url) == (url, url, url)
    assert first.headline == "How Jeff Bezos\u2019s iPhone X Was Hacked"
    assert first.published == datetime(2020, 1, 24, 23, 46, 57, tzinfo=UTC)
    assert first.author == "John Gruber"
    assert first.paragraphs[0].startswith("Good summary from The New York Times.")
    assert second.published == datetime(2020, 1, 21, 1, 7, tzinfo=UTC)  # not the modified
    # url wins over external_url; the canonical URL drops tracking parameters only.
    assert second.link == "https://daringfireball.net/linked/2020/01/20/instagram-for-win95"


def test_feed_rs_jsonfeed_announcement() -> None:
    (entry,) = fixture("feed-rs/jsonfeed_spec_1.json").entries
    assert entry.guid == "https://jsonfeed.org/2017/05/17/announcing_json_feed"
    assert entry.published == datetime(2017, 5, 17, 15, 2, 12, tzinfo=UTC)
    assert entry.author == "Brent Simmons and Manton Reece"  # the feed's 1.0 author
    assert len(entry.paragraphs) == 3
    assert entry.paragraphs[1].startswith("So we developed JSON Feed, a format similar to RSS")
    assert entry.paragraphs[2] == "..."  # after the last paragraph, as the feed has it


def test_feed_rs_influxdata_11() -> None:
    feed = fixture("feed-rs/jsonfeed_elastic_1.1.json")
    assert feed.title == "Blog \u2013 InfluxData"
    first, second, third = feed.entries
    assert first.guid is None  # no id: deduplicated by its URL
    assert first.link == (
        "https://www.influxdata.com/blog/influxdb-outperforms-graphite-in-time-series-data"
        "-metrics-benchmark"
    )
    assert first.headline == "InfluxDB vs. Graphite for Time Series Data & Metrics Benchmark"
    assert first.author == "Chris Churilo, Fake Author 1"  # 1.1 authors over 1.0 author
    assert first.published == datetime(2019, 5, 31, 19, 17, 58, tzinfo=UTC)  # RFC 2822
    assert second.author == "Chris Churilo"
    assert second.published == datetime(2018, 2, 6, 13, 34, 12, tzinfo=UTC)
    assert (third.headline, third.paragraphs, third.link) == (
        "Fake item",
        (),
        "https://example.com",
    )
    assert third.author == "Fake Author 3, Fake Author 4"


def test_feedjira_inessential() -> None:
    feed = fixture("feedjira/json_feed.json")
    assert feed.title == "inessential.com" and len(feed.entries) == 20
    assert all(e.guid == e.link and e.link.startswith("http://inessential.com/2017/")
               for e in feed.entries)  # fmt: skip
    assert {e.author for e in feed.entries} == {"Brent Simmons"}
    first = feed.entries[0]
    assert first.headline == "James Dempsey and the Breakpoints Benefit App Camp for Girls"
    assert first.published == datetime(2017, 6, 3, 5, 5, 47, tzinfo=UTC)


def test_feedjira_lukedorny_11() -> None:
    feed = fixture("feedjira/json_feed_with_escaped_uris.json")
    assert feed.title == "Luke Dorny's v6" and len(feed.entries) == 30
    first = feed.entries[0]
    assert (first.guid, first.link) == ("https://lukedorny.com/updates/new-font",) * 2
    assert first.headline == "New Font"
    assert first.published == datetime(2025, 1, 6, 1, 40, tzinfo=UTC)
    assert first.author == "Author: Luke, most likely."
    assert all(e.published is not None for e in feed.entries)


def test_feedparser_example() -> None:
    feed = fixture("feedparser/example.json")
    assert feed.title == "My Example Feed"
    second, first = feed.entries
    assert (second.guid, second.link, second.headline, second.paragraphs) == (
        "2",
        "https://example.org/second-item",
        "post 2",
        ("This is a second item.",),
    )
    assert second.author == "me"
    assert (first.guid, first.headline, first.paragraphs, first.author) == (
        "1",
        "Hello, world!",  # no title: the start of the text
        ("Hello, world!",),  # the script is not text
        "you",
    )


def test_reader_full_and_edge_cases() -> None:
    feed = fixture("reader/full.json")
    assert feed.title == "My Example Feed"
    second, first = feed.entries
    assert (second.guid, second.headline, second.paragraphs) == (
        "2",
        "Title",
        # content_html, the fullest, then content_text for the word only it has
        ("Content with link", "Content with no link"),
    )
    assert second.published == datetime(2020, 1, 2, 21, 0, tzinfo=UTC)
    assert second.author is None  # its authors have no names
    assert (first.guid, first.published, first.author) == (
        "1",
        datetime(2020, 1, 2, 12, 0, tzinfo=UTC),
        "Jane",
    )
    assert fixture("reader/10.json").entries == ()
    assert fixture("reader/unknown.json").entries == ()
    (entry,) = fixture("reader/empty.json").entries
    assert (entry.guid, entry.headline, entry.paragraphs) == ("1", "content", ("content",))


def test_reader_invalid_types() -> None:
    feed = fixture("reader/invalid.json")
    assert feed.title == ""
    # Every other item has no text left once its fields of the wrong type are dropped.
    (entry,) = feed.entries
    assert (entry.guid, entry.headline, entry.author) == ("3.1415", "float id", None)


def _words(html: str) -> set[str]:
    """The words a reader of the HTML sees: every text node but scripts and styles."""
    soup = BeautifulSoup(html, "html.parser")
    for node in soup(["script", "style"]):
        node.decompose()
    return set(tokenize(soup.get_text(" ")))


def _fixture_items() -> list[tuple[str, int]]:
    cases = []
    for path in sorted(FIXTURES.rglob("*.json")):
        items = json.loads(path.read_bytes()).get("items")
        if isinstance(items, list):
            name = path.relative_to(FIXTURES).as_posix()
            cases += [(name, i) for i, item in enumerate(items) if _item_words(item)]
    return cases


def _item_words(item: Any) -> set[str]:
    if not isinstance(item, dict):
        return set()
    title = item.get("title")
    words = set(tokenize(title)) if isinstance(title, str) else set()
    texts = [
        (item.get(k), k != "content_text") for k in ("content_html", "content_text", "summary")
    ]
    texts = [(value, html) for value, html in texts if isinstance(value, str)]
    if texts:  # the fullest of them, as for RSS and Atom items
        value, html = max(texts, key=lambda t: len(t[0]))
        words |= _words(value) if html else set(tokenize(value))
    return words


@pytest.mark.parametrize(("name", "index"), _fixture_items(), ids=lambda v: str(v))
def test_every_word_of_each_fixture_item_reaches_its_entry(name: str, index: int) -> None:
    document = json.loads((FIXTURES / name).read_bytes())
    item = document["items"][index]
    # Items without text are skipped, so the entry is found by its position among the rest.
    with_text = [i for i, it in enumerate(document["items"]) if _item_words(it)]
    entry = fixture(name).entries[with_text.index(index)]
    lost = _item_words(item) - set(tokenize(text_of(entry)))
    assert not lost, f"{name} item {index} lost {sorted(lost)}"


def test_lone_surrogates_are_replaced_not_fatal(tmp_path: Path) -> None:
    from monitor.types import Feed
    from tests.builders import archive_with

    document = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": ['
        b'{"id": "1\\ud800", "url": "https://e.example/1", "title": "Talks \\ud83d resume",'
        b' "content_text": "Rights talks \\udc00 resume.", "authors": [{"name": "A\\udc00"}]},'
        b'{"id": "2", "url": "https://e.example/2", "title": "Second", "content_text": "Fine."}]}'
    )
    feed = parse_feed(document, url="https://e.example/feed.json", now=NOW)
    assert [e.headline for e in feed.entries] == ["Talks resume", "Second"]
    archive = archive_with(
        tmp_path / "m.db", [Feed(url="https://e.example/feed.json", name="e")], NOW
    )
    stored = archive.store_entries("https://e.example/feed.json", list(feed.entries), NOW)
    assert len(stored.new) == 2
