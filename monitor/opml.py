"""OPML import and export of the feed list, for moving between feed readers."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from lxml import etree

from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.types import Feed

# No entity expansion, no network, no giant trees: the file comes from elsewhere.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def read_opml(data: bytes, *, source: str = "OPML") -> list[Feed]:
    """The feeds in an OPML document; folders (outer outlines) become tags."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"not valid OPML: {exc}", path=source) from exc
    if root is None or root.tag != "opml":
        raise ConfigError("not an OPML document (no <opml> root)", path=source)
    body = root.find("body")
    if body is None:
        raise ConfigError("OPML document has no <body>", path=source)
    feeds: dict[str, Feed] = {}
    _collect(body, (), feeds)
    return list(feeds.values())


def _collect(node: etree._Element, tags: tuple[str, ...], feeds: dict[str, Feed]) -> None:
    for outline in node.iterchildren("outline"):
        title = (outline.get("title") or outline.get("text") or "").strip()
        url = (outline.get("xmlUrl") or "").strip()
        if url:
            own = tuple(t.strip() for t in (outline.get("category") or "").split(",") if t.strip())
            feeds.setdefault(
                url,
                Feed(url=url, name=title or url, tags=tuple(dict.fromkeys((*tags, *own)))),
            )
        else:
            _collect(outline, (*tags, title) if title else tags, feeds)


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
    # A JSON string literal is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


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


def add_feeds_to_config(config_path: Path, feeds: Sequence[Feed]) -> list[Feed]:
    """Append the feeds not yet configured to the config file; return those added.

    The user's file is appended to, not rewritten, so comments survive; the result
    is validated before it replaces the original, atomically.
    """
    config = load_config(config_path)
    known = {f.url for f in config.feeds}
    added = [f for f in feeds if f.url not in known]
    if not added:
        return []
    text = config_path.read_text(encoding="utf-8")
    text = text.rstrip("\n") + "\n\n" + feeds_as_toml(added)
    fd, tmp = tempfile.mkstemp(dir=config_path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        load_config(tmp)  # refuse to leave behind a config that does not load
        os.replace(tmp, config_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return added
