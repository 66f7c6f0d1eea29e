"""Checks that monitor.parse.fastrss reads feeds exactly as feedparser does.

    python bench/parse_check.py [--variants N] [--seed S]

Parses, both with the fast path and with feedparser alone, and compares the results
(``ParsedFeed``, or the error raised):

* every feed of the benchmark's farm (which must all take the fast path);
* every feed file under tests/fixtures;
* N generated variants of RSS feeds (default 20,000): elements in any order, missing,
  repeated or unknown; attributes, namespaces, entities, CDATA, markup, comments,
  white space, non-ASCII and mis-encoded text, relative and odd links, dates of many
  shapes, other versions and formats, several encodings and content types.

Exits non-zero on the first difference (printing the document), so it can run in CI.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from monitor.errors import FeedParseError  # noqa: E402
from monitor.parse import fastrss  # noqa: E402
from monitor.parse.feed import ParsedFeed, parse_feed  # noqa: E402

NOW = datetime(2025, 3, 15, tzinfo=UTC)
URL = "https://feeds.example/news/rss.xml"
CONTENT_TYPES = [
    "application/rss+xml; charset=utf-8",
    "application/rss+xml; charset=UTF-8",
    "application/rss+xml",
    "application/xml; charset=utf-8",
    "text/xml; charset=utf-8",
    "text/xml",
    "text/html; charset=utf-8",
    "application/rss+xml; charset=iso-8859-1",
    None,
]
TEXTS = [
    "Plain words here",
    "  padded \n words\t ",
    "",
    " ",
    "Tom &amp; Jerry",
    "Tom &amp;amp; Jerry",
    "a &lt;b&gt;bold&lt;/b&gt; move",
    "&lt;p&gt;Para one.&lt;/p&gt;&lt;p&gt;Para two, longer.&lt;/p&gt;",
    "<![CDATA[<p>In CDATA <a href='/x'>link</a> &amp; more.</p>]]>",
    "<![CDATA[]]>",
    "caf&#233; &#x2019;quoted&#x2019;",
    "caf\u00e9 \u201cquoted\u201d \U0001f600",
    "Ã© mojibake Ã¼",
    "win &#150; dash &#146;s",
    "control &#133; ellipsis",
    "x &#160; nbsp",
    "5 &gt; 3 &amp;&amp; 2 &lt; 4",
    "line\r\nbreaks\rhere",
    "&#x1F600; astral",
    "a<![CDATA[ b ]]>c",
]
LINKS = [
    "https://news.example/a/1",
    " https://news.example/a/2 \n",
    "/relative/path",
    "relative",
    "http:///extra-slashes.example/x",
    "https://news.example/q?a=1&amp;b=2",
    "https://news.example/q?a=1&amp;amp;b=2",
    "https://news.example/q?a=1&amp;b;=2",
    "javascript:alert(1)",
    "",
    "https://news.example/caf\u00e9",
    "https://news.example/%E2%82%AC?x=&lt;y&gt;",
    "tag:news.example,2025:1",
]
DATES = [
    "Fri, 14 Mar 2025 11:37:00 GMT",
    "Fri, 14 Mar 2025 11:37:00 +0100",
    "2025-03-14T11:37:00Z",
    "14 Mar 2025",
    "yesterday",
    "",
    "Sat, 14 Mar 2099 11:37:00 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
]
PEOPLE = ["Felix Mwangi", "felix@news.example (Felix Mwangi)", "Ana &lt;ana@news.example&gt;", ""]
NAMESPACES = {
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "atom": "http://www.w3.org/2005/Atom",
    "media": "http://search.yahoo.com/mrss/",
    "c": "http://purl.org/rss/1.0/modules/content/",
}


def text(rng: random.Random) -> str:
    return rng.choice(TEXTS) if rng.random() < 0.8 else rng.choice(TEXTS) + rng.choice(TEXTS)


ODD = [0.0]  # how often element() makes an element odd, set per document


def element(rng: random.Random, name: str, body: str, attrs: str = "") -> str:
    if rng.random() < ODD[0]:
        name = name.upper()
    if rng.random() < ODD[0]:
        attrs += ' xml:lang="en"'
    if rng.random() < ODD[0]:
        body = f"<b>{body}</b>"
    if rng.random() < ODD[0]:
        body += "<!-- c -->"
    return f"<{name}{attrs}>{body}</{name}>"


def item(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.9:
        parts.append(element(rng, "title", text(rng)))
    if rng.random() < 0.8:
        parts.append(element(rng, "link", rng.choice(LINKS)))
    if rng.random() < 0.8:
        attr = rng.choice(["", ' isPermaLink="true"', ' isPermaLink="false"', ' isPermaLink="True"',
                           ' ispermalink="false"'])  # fmt: skip
        parts.append(element(rng, "guid", rng.choice([*LINKS, "12345", " id-7 "]), attr))
    if rng.random() < 0.7:
        parts.append(element(rng, "pubDate", rng.choice(DATES)))
    if rng.random() < 0.7:
        parts.append(element(rng, "description", text(rng)))
    if rng.random() < 0.6:
        prefix = rng.choice(["content", "content", "c"])
        parts.append(element(rng, f"{prefix}:encoded", text(rng)))
    if rng.random() < 0.5:
        parts.append(element(rng, "dc:creator", rng.choice(PEOPLE)))
    if rng.random() < 0.2:
        parts.append(element(rng, "author", rng.choice(PEOPLE)))
    for _ in range(rng.choice([0, 0, 1, 2])):
        parts.append(element(rng, "category", text(rng), rng.choice(["", ' domain="x"'])))
    if rng.random() < 0.1:
        parts.append(element(rng, "comments", rng.choice(LINKS)))
    if rng.random() < 0.05:
        parts.append('<enclosure url="https://news.example/a.mp3" length="1" type="audio/mpeg"/>')
    if rng.random() < ODD[0]:
        parts.append(element(rng, rng.choice(["media:title", "source", "dc:date", "atom:title",
                                              "foo", "summary"]), text(rng)))  # fmt: skip
    if rng.random() < ODD[0] * 2:
        parts.append(rng.choice(parts) if parts else "")  # a repeated element
    rng.shuffle(parts)
    sep = rng.choice(["", "\n", "\n  ", " \t", " junk "]) if rng.random() < 0.1 else "\n"
    return element(rng, "item", sep + sep.join(parts) + sep)


def document(rng: random.Random) -> tuple[bytes, dict[str, str]]:
    ODD[0] = rng.choice([0.0, 0.0, 0.0, 0.01, 0.05])
    channel = [element(rng, "title", text(rng))] if rng.random() < 0.9 else []
    channel.append(element(rng, "link", rng.choice(LINKS)))
    for name, body in [("description", text(rng)), ("language", "en"), ("ttl", " 15 "),
                       ("ttl", "soon"), ("lastBuildDate", rng.choice(DATES)),
                       ("generator", "gen"), ("managingEditor", rng.choice(PEOPLE)),
                       ("docs", "/docs"), ("category", "world")]:  # fmt: skip
        if rng.random() < 0.3:
            channel.append(element(rng, name, body))
    if rng.random() < 0.3:
        channel.append('<atom:link href="https://feeds.example/rss" rel="self" '
                       'type="application/rss+xml"/>')  # fmt: skip
    if rng.random() < 0.03:
        channel.append("<image><url>/i.png</url><title>Img</title><link>/</link></image>")
    channel += [item(rng) for _ in range(rng.choice([0, 1, 2, 3, 5]))]
    if rng.random() < 0.5:
        rng.shuffle(channel)
    used = rng.sample(["content", "dc", "atom", "c"], k=rng.randint(0, 4))
    if rng.random() < 0.03:
        used.append("media")
    needed = {p for p in NAMESPACES if f"<{p}:" in "".join(channel)}
    if rng.random() < 0.98:
        used = sorted(set(used) | needed)
    decls = "".join(f' xmlns:{p}="{NAMESPACES[p]}"' for p in used)
    if rng.random() < 0.02:
        decls += ' xmlns="http://purl.org/rss/1.0/"'
    version = rng.choice(["2.0"] * 20 + ["0.91", "2.0.1", ""])
    rss_attrs = f' version="{version}"' if version else ""
    if rng.random() < 0.02:
        rss_attrs += ' xml:base="https://base.example/"'
    body = f"<rss{rss_attrs}{decls}><channel>\n" + "\n".join(channel) + "\n</channel></rss>"
    if rng.random() < 0.02:
        body = body.replace("<channel>", "<channel><?pi x?>")
    if rng.random() < 0.02:
        body = body.replace("</channel>", "</channel><channel></channel>")
    if rng.random() < 0.02:
        body = body.replace("<item>", "<item><title>&nbsp;</title>", 1)
    declaration = rng.choice(['<?xml version="1.0" encoding="UTF-8"?>\n',
                              "<?xml version='1.0' encoding='utf-8'?>",
                              '<?xml version="1.0"?>\n', "",
                              '<?xml version="1.0" encoding="iso-8859-1"?>'])  # fmt: skip
    encoding = "iso-8859-1" if "8859" in declaration and rng.random() < 0.5 else "utf-8"
    data = (declaration + body).encode(encoding, errors="xmlcharrefreplace")
    if rng.random() < 0.02:
        data = b"\xef\xbb\xbf" + data
    if rng.random() < 0.01:
        data = data[: rng.randrange(len(data))]  # cut short
    content_type = rng.choice(CONTENT_TYPES)
    return data, ({"Content-Type": content_type} if content_type else {})


def reading(data: bytes, headers: dict[str, str], fast: bool) -> ParsedFeed | str:
    try:
        return parse_feed(data, url=URL, headers=headers, now=NOW, fast=fast)
    except FeedParseError as exc:
        return f"FeedParseError: {exc}"


def check(data: bytes, headers: dict[str, str], label: str) -> bool:
    """True when both readings agree; whether the fast path took it is printed by callers."""
    fast, slow = reading(data, headers, True), reading(data, headers, False)
    if fast == slow:
        return True
    print(f"DIFFERENCE in {label} (headers {headers}):\n{data.decode('utf-8', 'replace')}\n")
    print(f"  fast path: {fast!r}\n  feedparser: {slow!r}")
    return False


def taken(data: bytes, headers: dict[str, str]) -> bool:
    from monitor.parse.feed import strip_dtd

    lowered = {k.lower(): v for k, v in headers.items()}
    return fastrss.read(strip_dtd(data), lowered) is not None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--variants", type=int, default=20000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if not fastrss.ENABLED:
        print("fast path disabled for this feedparser version: nothing to check")
        return 0
    started = time.perf_counter()

    farm = sorted((BENCH / ".work").glob("farm-v*/feeds/*.xml"))
    headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
    for path in farm:
        data = path.read_bytes()
        if not check(data, headers, str(path)):
            return 1
        if not taken(data, headers):
            print(f"the fast path does not take the farm feed {path}")
            return 1
    print(f"farm: {len(farm)} feeds, all read by the fast path, identical results")

    fixtures = sorted(p for p in (BENCH.parent / "tests" / "fixtures").rglob("*") if p.is_file())
    fast_fixtures = 0
    for path in fixtures:
        data = path.read_bytes()
        for hdrs in ({}, headers):
            if not check(data, hdrs, str(path)):
                return 1
            fast_fixtures += taken(data, hdrs)
    print(f"fixtures: {len(fixtures)} files x 2 header sets, {fast_fixtures} fast, identical")

    rng = random.Random(args.seed)
    fast_variants = 0
    for n in range(args.variants):
        data, hdrs = document(rng)
        if not check(data, hdrs, f"variant {n}"):
            return 1
        fast_variants += taken(data, hdrs)
    print(
        f"variants: {args.variants}, {fast_variants} read by the fast path, identical results "
        f"({time.perf_counter() - started:.0f} s in all)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
