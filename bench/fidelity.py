"""Fidelity benchmark: does every word a feed carries reach the archive?

    python bench/fidelity.py [FEEDS_DIR] [--json FILE] [--worst 10]

Serves every feed file under FEEDS_DIR (default ``../shared/feeds-dev``) on 127.0.0.1,
polls them all once with the default settings (parse pool included) into a fresh
archive, then compares entry by entry the words of the entry, as feedparser (or the JSON
Feed itself) gives them: its title and its content, or its summary when it has none, tags
stripped, with the words of the story archived for the entry's link. A word is a token of
the rule language (``monitor.tokens``); recall counts repeated words too.

The baseline is the reading itself: a perfect run archives every entry with recall 1.0.
Prints: feeds, feeds failed (grouped by reason), entries, entries archived, mean word
recall, entries losing more than 2% and 10% of their words, and the worst entries with
the words they lost. Never fails on a figure; exits non-zero when a feed fails with an
internal error.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import feedparser
from lxml import etree

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from monitor.archive import open_archive  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.ingest import Poller  # noqa: E402
from monitor.tokens import tokenize  # noqa: E402

DEFAULT_FEEDS = REPO.parent / "shared" / "feeds-dev"
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".json", ".rdf")
_NOT_TEXT = ("script", "style", "template")


@dataclass(frozen=True, kw_only=True)
class Expected:
    """One entry as the feed gives it: where it is, and its words."""

    feed: str  # path relative to the feeds folder
    index: int
    link: str
    guid: str
    words: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Compared:
    expected: Expected
    archived: bool
    recall: float
    lost: tuple[str, ...]


@dataclass(kw_only=True)
class Report:
    feeds: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    internal_errors: list[str] = field(default_factory=list)
    entries: int = 0
    archived: int = 0
    mean_recall: float = 0.0
    losing_2: int = 0
    losing_10: int = 0
    worst: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def feed_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in FEED_SUFFIXES)


def html_words(html: str) -> list[str]:
    """The words of an HTML fragment with its tags stripped (no script or style text)."""
    if "<" not in html:
        return tokenize(_unescape(html))
    try:
        root = etree.fromstring(html, etree.HTMLParser(no_network=True))
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return tokenize(re.sub(r"<[^>]*>", " ", html))
    if root is None:
        return []
    for node in root.iter(*_NOT_TEXT):
        node.text = None
        for child in list(node):
            node.remove(child)
    return tokenize(" ".join(t for t in root.itertext() if isinstance(t, str)))


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def _detail_words(detail: Any, fallback: str) -> list[str]:
    value = str((detail or {}).get("value") or fallback)
    kind = str((detail or {}).get("type") or "text/html")
    return html_words(value) if "html" in kind or "xml" in kind else tokenize(value)


def expected_entries(path: Path, relative: str) -> list[Expected]:
    data = path.read_bytes()
    if data.lstrip()[:1] == b"{" or path.suffix == ".json":
        return _json_entries(data, relative)
    parsed = feedparser.parse(data)
    out = []
    for i, entry in enumerate(parsed.entries):
        words = _detail_words(entry.get("title_detail"), str(entry.get("title") or ""))
        contents = entry.get("content") or []
        if contents:
            # Feeds repeat one text in several elements: each word as often as the
            # fullest of them has it.
            union: Counter[str] = Counter()
            for content in contents:
                union |= Counter(_detail_words(content, ""))
            words += list(union.elements())
        else:
            words += _detail_words(entry.get("summary_detail"), str(entry.get("summary") or ""))
        out.append(
            Expected(
                feed=relative,
                index=i,
                link=str(entry.get("link") or ""),
                guid=str(entry.get("id") or ""),
                words=tuple(words),
            )
        )
    return out


def _json_entries(data: bytes, relative: str) -> list[Expected]:
    try:
        document = json.loads(data)
        items = document.get("items") or []
    except (ValueError, AttributeError):
        return []
    out = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        words = tokenize(str(item.get("title") or ""))
        if item.get("content_html"):
            words += html_words(str(item["content_html"]))
        elif item.get("content_text"):
            words += tokenize(str(item["content_text"]))
        elif item.get("summary"):
            words += tokenize(str(item["summary"]))
        link = item.get("url") or item.get("external_url") or ""
        out.append(
            Expected(
                feed=relative,
                index=i,
                link=str(link),
                guid=str(item.get("id") or ""),
                words=tuple(words),
            )
        )
    return out


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012
        **SimpleHTTPRequestHandler.extensions_map,
        ".json": "application/feed+json",
        ".atom": "application/atom+xml",
        ".rss": "application/rss+xml",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def write_config(path: Path, base: str, relatives: list[str], workers: int | None) -> None:
    lines = ["[archive]", f'url = "sqlite:///{path.parent / "archive.db"}"', ""]
    if workers is not None:
        lines += ["[schedule]", f"workers = {workers}", ""]
    for i, relative in enumerate(relatives):
        url = base + quote(relative)
        lines += ["[[feeds]]", f"url = {json.dumps(url)}", f'name = "feed {i:05d}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def poll_all(config_path: Path) -> tuple[dict[str, str], float]:
    """Poll every configured feed once; each feed URL's error ('' when it succeeded)."""
    config = load_config(config_path)
    archive = open_archive(config.archive_url)
    poller = Poller(config, archive)
    started = time.perf_counter()
    try:
        summary = asyncio.run(poller.poll(all_feeds=True))
    finally:
        poller.close()
        archive.close()
    seconds = time.perf_counter() - started
    failed = ("failed", "gone")
    errors = {o.url: (o.error or o.status) if o.status in failed else "" for o in summary.outcomes}
    return errors, seconds


def stored_words(db: sqlite3.Connection, feed_url: str) -> tuple[dict[str, list[int]], dict]:
    """For one feed: story seqs by source link, and each story's words."""
    rows = db.execute(
        "SELECT s.seq, ss.link, s.headline, s.body FROM story_sources ss "
        "JOIN stories s ON s.seq = ss.story_seq JOIN feeds f ON f.id = ss.feed_id "
        "WHERE f.url = ?",
        (feed_url,),
    ).fetchall()
    by_link: dict[str, list[int]] = {}
    words: dict[int, Counter[str]] = {}
    for seq, link, headline, body in rows:
        by_link.setdefault(link, []).append(seq)
        words[seq] = Counter(tokenize(headline + "\n" + body))
    return by_link, words


def guid_story(db: sqlite3.Connection, feed_url: str, guid: str) -> int | None:
    row = db.execute(
        "SELECT k.story_seq FROM story_keys k JOIN feeds f ON k.key = 'guid:' || f.id || ':' || ? "
        "WHERE f.url = ?",
        (guid, feed_url),
    ).fetchone()
    return int(row[0]) if row else None


def compare(expected: Expected, story: Counter[str] | None) -> Compared:
    want = Counter(expected.words)
    if story is None:
        return Compared(expected=expected, archived=False, recall=0.0, lost=expected.words)
    if not want:
        return Compared(expected=expected, archived=True, recall=1.0, lost=())
    missing = want - story
    recall = 1 - sum(missing.values()) / sum(want.values())
    return Compared(expected=expected, archived=True, recall=recall, lost=tuple(missing.elements()))


def _reason_group(error: str) -> str:
    error = re.sub(r"https?://\S+", "URL", error)
    error = re.sub(r"\d+", "N", error)
    return error[:120]


def measure(
    root: Path, *, worst: int = 10, workers: int | None = None
) -> tuple[Report, list[Compared]]:
    files = feed_files(root)
    relatives = [p.relative_to(root).as_posix() for p in files]
    report = Report(feeds=len(files))
    with tempfile.TemporaryDirectory() as tmp, serve(root) as base:
        config_path = Path(tmp) / "config.toml"
        write_config(config_path, base, relatives, workers)
        errors, report.seconds = poll_all(config_path)
        db = sqlite3.connect(Path(tmp) / "archive.db")
        compared: list[Compared] = []
        for path, relative in zip(files, relatives, strict=True):
            url = base + quote(relative)
            error = errors.get(url, "not polled")
            if error:
                report.failed[_reason_group(error)] += 1
                if "internal error" in error or error == "not polled":
                    report.internal_errors.append(f"{relative}: {error}")
            expected = expected_entries(path, relative)
            if not expected:
                continue
            by_link, words = stored_words(db, url)
            for entry in expected:
                seqs = by_link.get(urljoin(url, entry.link), []) if entry.link else []
                if not seqs and entry.guid:
                    found = guid_story(db, url, entry.guid)
                    seqs = [found] if found is not None else []
                if not seqs and not entry.link:
                    seqs = list(words)  # nothing identifies it: the closest story of its feed
                candidates = [compare(entry, words[s]) for s in seqs]
                compared.append(
                    max(candidates, key=lambda c: c.recall) if candidates else compare(entry, None)
                )
        db.close()
    report.entries = len(compared)
    report.archived = sum(c.archived for c in compared)
    report.mean_recall = sum(c.recall for c in compared) / len(compared) if compared else 1.0
    report.losing_2 = sum(c.recall < 0.98 for c in compared)
    report.losing_10 = sum(c.recall < 0.90 for c in compared)
    ranked = sorted(compared, key=lambda c: (c.recall, c.expected.feed))
    report.worst = [
        {
            "feed": c.expected.feed,
            "entry": c.expected.index,
            "archived": c.archived,
            "recall": round(c.recall, 3),
            "words": len(c.expected.words),
            "lost": " ".join(c.lost[:25]) + (" …" if len(c.lost) > 25 else ""),
        }
        for c in ranked[:worst]
        if c.recall < 1.0
    ]
    return report, compared


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_report(report: Report) -> None:
    failed = sum(report.failed.values())
    print(f"feeds                      {report.feeds}")
    print(f"feeds failed               {failed} ({_percent(failed, report.feeds)})")
    for reason, count in report.failed.most_common():
        print(f"    {count:5d}  {reason}")
    print(f"internal errors            {len(report.internal_errors)}")
    for line in report.internal_errors[:10]:
        print(f"    {line}")
    print(f"entries                    {report.entries}")
    print(
        f"entries archived           {report.archived} "
        f"({_percent(report.archived, report.entries)}; target >= 99%)"
    )
    print(f"mean word recall           {report.mean_recall:.4f} (target >= 0.995; baseline 1.0)")
    print(
        f"losing > 2% of words       {report.losing_2} "
        f"({_percent(report.losing_2, report.entries)}; target <= 0.5%)"
    )
    print(
        f"losing > 10% of words      {report.losing_10} "
        f"({_percent(report.losing_10, report.entries)})"
    )
    print(f"poll time                  {report.seconds:.1f} s")
    if report.worst:
        print("worst entries:")
        for w in report.worst:
            print(
                f"    {w['recall']:.3f} of {w['words']:4d} words  {w['feed']}#{w['entry']}"
                f"{'' if w['archived'] else ' (not archived)'}"
            )
            print(f"        lost: {w['lost']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("feeds", nargs="?", type=Path, default=DEFAULT_FEEDS)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--worst", type=int, default=10)
    parser.add_argument(
        "--workers", type=int, help="[schedule] workers (default: the default setting)"
    )
    args = parser.parse_args()
    report, _ = measure(args.feeds.resolve(), worst=args.worst, workers=args.workers)
    print_report(report)
    if args.json:
        figures = asdict(report) | {"failed": dict(report.failed)}
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 1 if report.internal_errors else 0


if __name__ == "__main__":
    sys.exit(main())
