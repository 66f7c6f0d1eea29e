from __future__ import annotations

from datetime import UTC, datetime

from monitor.parse.feed import parse_feed, strip_dtd

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def rss(items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://example.org/</link><ttl>45</ttl>{items}</channel></rss>"
    ).encode()


def test_items_become_entries_with_canonical_links_and_times() -> None:
    feed = parse_feed(
        rss(
            "<item><title>Talks &lt;b&gt;resume&lt;/b&gt;</title>"
            "<link>/world/talks?utm_source=rss#top</link><guid>g-1</guid>"
            "<pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate>"
            "<description>Short summary.</description>"
            "<content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'>"
            "&lt;p&gt;Officials said on Tuesday that the talks would resume soon.&lt;/p&gt;"
            "&lt;p&gt;More detail followed in a statement.&lt;/p&gt;</content:encoded></item>"
        ),
        url="https://feeds.example.org/world.rss",
        now=NOW,
    )
    (entry,) = feed.entries
    assert feed.title == "T" and feed.ttl == 45 * 60
    assert entry.headline == "Talks resume"
    assert entry.url == "https://feeds.example.org/world/talks"
    assert entry.guid == "g-1"
    # The content: a summary that says less adds nothing.
    assert entry.paragraphs == (
        "Officials said on Tuesday that the talks would resume soon.",
        "More detail followed in a statement.",
    )
    assert entry.published == datetime(2003, 6, 10, 4, 0, tzinfo=UTC)


def test_missing_and_absurd_dates_are_left_to_first_seen() -> None:
    feed = parse_feed(
        rss(
            "<item><title>No date</title><link>https://e.org/1</link></item>"
            "<item><title>Future</title><link>https://e.org/2</link>"
            "<pubDate>Sat, 01 Jan 2999 00:00:00 GMT</pubDate></item>"
            "<item><title>Ancient</title><link>https://e.org/3</link>"
            "<pubDate>Mon, 01 Jan 1900 00:00:00 GMT</pubDate></item>"
            "<item><title>Offset</title><link>https://e.org/4</link>"
            "<pubDate>Tue, 10 Jun 2003 09:00:00 +0500</pubDate></item>"
        ),
        url="https://e.org/rss",
        now=NOW,
    )
    published = [e.published for e in feed.entries]
    assert published[:3] == [None, None, None]
    assert published[3] == datetime(2003, 6, 10, 4, 0, tzinfo=UTC)
    assert all(p is None or p.tzinfo is not None for p in published)


def test_item_without_title_gets_the_start_of_its_text() -> None:
    text = "An untitled item whose text is long enough to be cut " * 5
    feed = parse_feed(rss(f"<item><description>{text}</description></item>"), url="x", now=NOW)
    (entry,) = feed.entries
    assert entry.headline.startswith("An untitled item") and entry.headline.endswith("\u2026")
    assert len(entry.headline) <= 121


def test_empty_items_are_skipped() -> None:
    assert parse_feed(rss("<item></item>"), url="x", now=NOW).entries == ()


def test_internal_subset_is_removed_but_the_doctype_kept() -> None:
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "]>x">]>\n<rss/>'
    assert strip_dtd(doc) == b'<?xml version="1.0"?>\n<!DOCTYPE rss>\n<rss/>'


def test_utf16_feed_with_entities_is_defused() -> None:
    doc = (
        '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss [<!ENTITY big "'
        + "x" * 1000
        + '">]><rss version="2.0"><channel><title>&big;&big;</title></channel></rss>'
    )
    feed = parse_feed(doc.encode("utf-16"), url="x", now=NOW)
    assert len(feed.title) < 100


def test_a_summary_that_is_the_text_beside_an_image_content_is_kept() -> None:
    feed = parse_feed(
        rss(
            "<item><title>Harbour closed</title><link>https://n.example/1</link>"
            '<content:encoded><![CDATA[<p><img src="https://n.example/harbour.jpg"></p>'
            "]]></content:encoded>"
            "<description>High winds kept the harbour closed on Friday.</description></item>"
        ),
        url="https://n.example/feed",
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert feed.entries[0].paragraphs == ("High winds kept the harbour closed on Friday.",)


def test_a_summary_that_starts_the_content_adds_nothing() -> None:
    feed = parse_feed(
        rss(
            "<item><title>Harbour closed</title><link>https://n.example/1</link>"
            "<content:encoded><![CDATA[<p>High winds kept the harbour closed.</p><p>More.</p>"
            "]]></content:encoded>"
            "<description>&lt;p&gt;High winds kept the harbour closed.&lt;/p&gt;</description>"
            "</item>"
        ),
        url="https://n.example/feed",
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert feed.entries[0].paragraphs == ("High winds kept the harbour closed.", "More.")


def test_a_reference_to_half_a_surrogate_pair_does_not_fail_the_feed() -> None:
    # An emoji cut in two by some encoder: feedparser itself raises on it.
    feed = parse_feed(
        rss(
            "<item><title>Talks &#xD83D;resume &#55357;today</title><guid>g&#xD800;1</guid>"
            "<link>https://n.example/1</link>"
            "<description>&lt;p&gt;Rights&amp;#xDC00;talks&lt;/p&gt;</description></item>"
            "<item><title>Second</title><link>https://n.example/2</link></item>"
        ),
        url="https://n.example/feed",
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    first, second = feed.entries
    assert first.headline == "Talks resume today"
    assert first.paragraphs == ("Rights talks",)
    assert second.headline == "Second"


def test_a_summary_that_says_more_than_a_read_more_content_is_the_body() -> None:
    feed = parse_feed(
        rss(
            "<item><title>Harbour closed</title><link>https://n.example/1</link>"
            '<content:encoded><![CDATA[<p><a href="https://n.example/1">Read more</a></p>'
            "]]></content:encoded>"
            "<description>High winds kept the harbour closed on Friday.</description></item>"
        ),
        url="https://n.example/feed",
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert feed.entries[0].paragraphs == (
        "High winds kept the harbour closed on Friday.",
        "Read more",
    )
