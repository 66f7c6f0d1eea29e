"""Article metadata from a parsed page: headline, published time, author.

Sources in order of trust, as Mozilla Readability ranks them: schema.org JSON-LD
(``headline``/``name``, ``datePublished``, ``author``), then meta tags (Dublin Core,
OpenGraph, ``article:``, Twitter, Parse.ly, Weibo), then the page's ``<title>`` with
the site name cut off, and for the time, ``<time datetime>`` and ``itemprop`` markup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lxml import etree

from monitor.articles.body import raw_text
from monitor.text.normalize import clean_text

_ARTICLE_TYPES = frozenset(
    {
        "article", "advertisercontentarticle", "newsarticle", "analysisnewsarticle",
        "askpublicnewsarticle", "backgroundnewsarticle", "opinionnewsarticle",
        "reportagenewsarticle", "reviewnewsarticle", "report", "satiricalarticle",
        "scholarlyarticle", "medicalscholarlyarticle", "socialmediaposting", "blogposting",
        "liveblogposting", "discussionforumposting", "techarticle", "apireference",
    }
)  # fmt: skip
_PROPERTY = re.compile(
    r"\s*(article|dc|dcterm|og|twitter)\s*:\s*"
    r"(author|creator|description|published_time|title|site_name)\s*",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"^\s*(?:(dc|dcterm|og|twitter|parsely|weibo:(?:article|webpage))\s*[-.:]\s*)?"
    r"(author|creator|pub-date|description|title|site_name)\s*$",
    re.IGNORECASE,
)
_TITLE_KEYS = (
    "dc:title", "dcterm:title", "og:title", "weibo:article:title", "weibo:webpage:title",
    "title", "twitter:title", "parsely-title",
)  # fmt: skip
_AUTHOR_KEYS = ("dc:creator", "dcterm:creator", "author", "parsely-author")
_TIME_KEYS = ("article:published_time", "parsely-pub-date")
_SEPARATORS = "|\\-\u2013\u2014\\\\/>\u00bb"
_SEPARATOR = re.compile(f" [{_SEPARATORS}] ")
_HIERARCHICAL = re.compile(" [\\\\/>\u00bb] ")
_JSON_CDATA = re.compile(r"^\s*<!\[CDATA\[|\]\]>\s*$")
_URL = re.compile(r"^(?:https?:)?//", re.IGNORECASE)
MAX_JSON_LD = 1_000_000  # characters per script; bigger ones are not article metadata


@dataclass(frozen=True, kw_only=True, slots=True)
class Metadata:
    headline: str | None = None
    published: datetime | None = None
    author: str | None = None


def _words(text: str) -> int:
    return len(text.split())


def _text(el: etree._Element) -> str:
    return clean_text(raw_text(el))


def _meta_values(root: etree._Element) -> dict[str, str]:
    """Content of the meta tags whose property or name is about the article, by key."""
    values: dict[str, str] = {}
    for meta in root.iter("meta"):
        content = meta.get("content")
        if not content or not (content := clean_text(content)):
            continue
        prop = meta.get("property")
        matched = False
        if prop:
            for m in _PROPERTY.finditer(prop):
                key = re.sub(r"\s", "", m.group(0)).lower()
                values[key] = content  # the last one wins, as in Readability
                matched = True
        name = meta.get("name")
        if not matched and name and _NAME.match(name):
            key = re.sub(r"\s", "", name).lower().replace(".", ":")
            values[key] = content
    return values


def _is_article(obj: dict[str, Any]) -> bool:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and k.lower() in _ARTICLE_TYPES for k in kinds)


def _schema_org(obj: dict[str, Any]) -> bool:
    context = obj.get("@context")
    if isinstance(context, dict):
        context = context.get("@vocab")
    return isinstance(context, str) and bool(re.match(r"^https?://schema\.org/?$", context))


def _json_ld_article(data: Any) -> dict[str, Any] | None:
    if isinstance(data, list):
        data = next((d for d in data if isinstance(d, dict) and _is_article(d)), None)
    if not isinstance(data, dict) or not _schema_org(data):
        return None
    if "@type" not in data and isinstance(data.get("@graph"), list):
        data = next((d for d in data["@graph"] if isinstance(d, dict) and _is_article(d)), None)
    return data if isinstance(data, dict) and _is_article(data) else None


def _names(value: Any) -> str | None:
    """An author value: a name, a Person, or a list of them."""
    if isinstance(value, str):
        return clean_text(value) or None
    if isinstance(value, dict):
        name = value.get("name")
        return clean_text(name) or None if isinstance(name, str) else None
    if isinstance(value, list):
        names = [n for n in (_names(v) for v in value if not isinstance(v, list)) if n]
        return ", ".join(names) or None
    return None


def _similarity(a: str, b: str) -> float:
    """Share of b's words that a lacks, subtracted from one (Readability's textSimilarity)."""
    wa = set(re.findall(r"\w+", a.lower()))
    wb = re.findall(r"\w+", b.lower())
    if not wa or not wb:
        return 0.0
    rest = " ".join(w for w in wb if w not in wa)
    return 1 - len(rest) / len(" ".join(wb))


def _json_ld(root: etree._Element, page_title: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = script.text or ""
        if len(raw) > MAX_JSON_LD:
            continue
        try:
            data = json.loads(_JSON_CDATA.sub("", raw))
        except (ValueError, RecursionError):
            continue
        article = _json_ld_article(data)
        if article is None:
            continue
        name, headline = article.get("name"), article.get("headline")
        name = clean_text(name) if isinstance(name, str) else ""
        headline = clean_text(headline) if isinstance(headline, str) else ""
        if name and headline and name != headline:
            # Both present: the one closer to the page title is the article's.
            by_name = _similarity(name, page_title) > 0.75
            by_headline = _similarity(headline, page_title) > 0.75
            found["title"] = headline if by_headline and not by_name else name
        elif name or headline:
            found["title"] = name or headline
        if (author := _names(article.get("author"))) is not None:
            found["author"] = author
        if isinstance(published := article.get("datePublished"), str):
            found["published"] = published
        return found
    return found


def title_from_page(root: etree._Element) -> str:
    """The ``<title>`` without the site name around it (Readability's heuristics)."""
    title_el = next(root.iter("title"), None)
    original = _text(title_el) if title_el is not None else ""
    current = original
    hierarchical = False
    if _SEPARATOR.search(original):
        hierarchical = bool(_HIERARCHICAL.search(original))
        current = re.sub(f"(.*)[{_SEPARATORS}] .*", r"\1", original)
        if _words(current) < 3:
            current = re.sub(f"[^{_SEPARATORS}]*[{_SEPARATORS}](.*)", r"\1", original)
    elif ": " in original:
        headings = {_text(h) for tag in ("h1", "h2") for h in root.iter(tag)}
        if original.strip() not in headings:
            current = original[original.rfind(":") + 1 :]
            if _words(current) < 3:
                current = original[original.find(":") + 1 :]
            elif _words(original[: original.find(":")]) > 5:
                current = original
    elif len(original) > 150 or len(original) < 15:
        h1s = list(root.iter("h1"))
        if len(h1s) == 1:
            current = _text(h1s[0])
    current = clean_text(current)
    count = _words(current)
    if count <= 4 and (not hierarchical or count != _words(_SEPARATOR.sub("", original)) - 1):
        current = original
    return current


def parse_time(value: str) -> datetime | None:
    """A timezone-aware time from ISO 8601 (with or without time) or RFC 2822 text."""
    value = value.strip()
    if not value:
        return None
    iso = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00").replace("z", "+00:00"))
    iso = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", iso)
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            m = re.match(r"(\d{4})-(\d\d)-(\d\d)", value)
            if not m:
                return None
            try:
                parsed = datetime.combine(date(*map(int, m.groups())), datetime.min.time())
            except ValueError:
                return None
    if not 1990 <= parsed.year <= 2100:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _markup_time(root: etree._Element) -> datetime | None:
    """``itemprop="datePublished"`` or a ``<time pubdate>``/first ``<time datetime>``."""
    for el in root.iter("meta", "time", "span", "div", "abbr"):
        if el.get("itemprop") == "datePublished":
            value = el.get("content") or el.get("datetime") or _text(el)
            if when := parse_time(value):
                return when
    times = [t for t in root.iter("time") if t.get("datetime")]
    for t in sorted(times, key=lambda t: t.get("pubdate") is None):
        if when := parse_time(t.get("datetime") or ""):
            return when
    return None


_BYLINE_NAME = re.compile(r"(?i)byline|author")
_BY = re.compile(r"(?i)^(by|par|von|por|door)\b\s*:?\s*")
MAX_BYLINE = 100


def _markup_author(root: etree._Element) -> str | None:
    """A byline the page marks as such: ``rel="author"`` or ``itemprop="author"``, else
    the first element whose class or id names an author's name ("author-name"), else
    the first one that names a byline or author."""
    body = next(root.iter("body"), None)
    if body is None:
        return None
    named: list[tuple[bool, str]] = []  # (the class names a name, text)
    for el in body.iter():
        if not isinstance(el.tag, str) or el.tag in ("script", "style", "meta", "link"):
            continue
        if el.get("rel") == "author" or "author" in (el.get("itemprop") or "").split():
            name = next((n for n in el.iter() if n.get("itemprop") == "name"), el)
            if 0 < len(text := _BY.sub("", _text(name))) <= MAX_BYLINE:
                return text
        names = f"{(el.get('class') or '')[:200]} {(el.get('id') or '')[:200]}"
        if _BYLINE_NAME.search(names) and 2 < len(text := _BY.sub("", _text(el))) <= MAX_BYLINE:
            named.append(("name" in names.lower(), text))
    return next((t for is_name, t in named if is_name), named[0][1] if named else None)


def read_metadata(root: etree._Element) -> Metadata:
    page_title = title_from_page(root)
    ld = _json_ld(root, page_title)
    meta = _meta_values(root)
    headline = ld.get("title") or next((meta[k] for k in _TITLE_KEYS if meta.get(k)), None)
    headline = headline or page_title or None
    author = ld.get("author") or next((meta[k] for k in _AUTHOR_KEYS if meta.get(k)), None)
    if author is None and (candidate := meta.get("article:author")):
        author = None if _URL.match(candidate) else candidate
    published = None
    for value in (ld.get("published"), *(meta.get(k) for k in _TIME_KEYS)):
        if value and (published := parse_time(value)):
            break
    return Metadata(
        headline=headline,
        published=published or _markup_time(root),
        author=author or _markup_author(root),
    )
