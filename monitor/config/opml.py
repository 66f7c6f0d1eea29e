"""OPML import and export of the feed list, for moving between feed readers."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from monitor.config import load_config, parse_config_text, suggest_url
from monitor.errors import ConfigError
from monitor.types import Feed
from monitor.urls import feed_key

# No entity expansion, no network, no giant trees: the file comes from elsewhere.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_FEED_TYPES = ("rss", "atom", "rdf", "json")


@dataclass(frozen=True, kw_only=True, slots=True)
class Outline:
    """A feed as an OPML outline lists it: its title, its URL as written, its folders."""

    title: str
    url: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportResult:
    added: tuple[Feed, ...] = ()
    known: tuple[Outline, ...] = ()  # configured already
    skipped: tuple[tuple[Outline, str], ...] = ()  # each with the reason


def read_opml(data: bytes, *, source: str = "OPML") -> list[Outline]:
    """The feeds an OPML document lists; folders (outer outlines) become tags."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"not valid OPML: {exc}", path=source) from exc
    if root is None or root.tag != "opml":
        raise ConfigError("not an OPML document (no <opml> root)", path=source)
    body = root.find("body")
    if body is None:
        raise ConfigError("OPML document has no <body>", path=source)
    found: list[Outline] = []
    _collect(body, (), found)
    return found


def _collect(node: etree._Element, tags: tuple[str, ...], found: list[Outline]) -> None:
    for outline in node.iterchildren("outline"):
        title = (outline.get("title") or outline.get("text") or "").strip()
        url = (outline.get("xmlUrl") or "").strip()
        kind = (outline.get("type") or "").strip().lower()
        has_children = outline.find("outline") is not None
        if url or (kind in _FEED_TYPES and not has_children):
            own = tuple(t.strip() for t in (outline.get("category") or "").split(",") if t.strip())
            found.append(Outline(title=title, url=url, tags=tuple(dict.fromkeys((*tags, *own)))))
        else:
            _collect(outline, (*tags, title) if title else tags, found)


def write_opml(feeds: Iterable[Feed], *, title: str, now: datetime) -> bytes:
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = now.strftime("%a, %d %b %Y %H:%M:%S %z")
    body = etree.SubElement(root, "body")
    for feed in feeds:
        attrs = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        etree.SubElement(body, "outline", attrs)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _toml_string(value: str) -> str:
    """A TOML basic string; control characters (which TOML forbids raw) escaped."""
    out = ['"']
    for c in value:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def feeds_as_toml(feeds: Sequence[Feed]) -> str:
    blocks = []
    for feed in feeds:
        lines = [
            "[[feeds]]",
            f"url = {_toml_string(feed.url)}",
            f"name = {_toml_string(feed.name)}",
        ]
        if feed.tags:
            lines.append("tags = [" + ", ".join(_toml_string(t) for t in feed.tags) + "]")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def add_feeds_to_config(config_path: Path, outlines: Sequence[Outline]) -> ImportResult:
    """Append the listed feeds not yet configured to the config file.

    An outline that cannot be a feed of this configuration is skipped with its reason; the
    rest are imported. URLs are compared as ``feed_key`` spells them, so ``HTTP://Example.org``
    is the configured ``http://example.org``. The user's file is appended to, not rewritten,
    so comments survive; the result is validated before it replaces the original, atomically.
    """
    config = load_config(config_path)
    seen = {feed_key(f.url): f"configured as {f.name!r}" for f in config.feeds}
    added: list[Feed] = []
    known: list[Outline] = []
    skipped: list[tuple[Outline, str]] = []
    for outline in outlines:
        feed, reason = _feed_of(outline, config_path)
        if feed is None:
            skipped.append((outline, reason))
            continue
        key = feed_key(feed.url)
        if key in seen:
            if seen[key].startswith("configured"):
                known.append(outline)
            else:
                skipped.append((outline, seen[key]))
            continue
        seen[key] = f"the same feed as {feed.name!r}, listed before it"
        added.append(feed)
    if added:
        text = config_path.read_text(encoding="utf-8")
        text = text.rstrip("\n") + "\n\n" + feeds_as_toml(added)
        parse_config_text(text, config_path)  # never leave behind a config that does not load
        _replace(config_path, text)
    return ImportResult(added=tuple(added), known=tuple(known), skipped=tuple(skipped))


def _feed_of(outline: Outline, config_path: Path) -> tuple[Feed | None, str]:
    """The feed an outline adds, or None and why it cannot be imported."""
    if not outline.url:
        return None, "no feed URL (xmlUrl)"
    # Another reader's subscriptions are web feeds: a file: URL or a path in one would
    # read files of this machine.
    try:
        scheme = urlsplit(outline.url).scheme.lower()
    except ValueError as exc:  # e.g. "http://[::1/rss"
        return None, f"not a URL: {outline.url!r} ({exc})"
    if scheme not in ("http", "https"):
        meant = suggest_url(outline.url)
        hint = f'; did you mean "{meant}"?' if meant else ""
        return None, f"not an http(s) URL: {outline.url!r}{hint}"
    url = feed_key(outline.url)  # scheme and host in lower case, as the feed will be named
    tags = tuple(t for t in outline.tags if t.strip())
    feed = Feed(url=url, name=outline.title or url, tags=tags)
    try:  # exactly the checks the config file's own [[feeds]] get
        parse_config_text(feeds_as_toml([feed]), config_path)
    except ConfigError as exc:
        return None, "; ".join(problem.detail for problem in exc.problems)
    return feed, ""


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
