"""Fidelity benchmark: does every word a feed carries reach the archive?

    python bench/fidelity.py [FEEDS_DIR] [--json FILE] [--worst 10]

Serves every feed file under FEEDS_DIR (default ``../shared/feeds-dev``) on 127.0.0.1,
polls them all once with the default settings (parse pool included) into a fresh
archive, then compares entry by entry the words of the entry, as feedparser (or the JSON
Feed itself) gives them: its title and its content, or its summary when it has none, tags
stripped (without its scripts and styles), with the words of the story archived for the
entry's link. A word is a token of
the rule language (``monitor.text.tokens``); recall counts repeated words too.

The baseline is the reading itself: a perfect run archives every entry with recall 1.0.
Prints: feeds, feeds failed (grouped by reason), entries (those with no title, no text and
no link have nothing to archive and are counted apart), entries archived, mean word recall,
entries losing more than 2% and 10% of their words, each with the rules that explain its
loss (the text that ``monitor.text.normalize.item_text`` takes out of the entry's HTML: scripts,
styles, hidden elements, named furniture) or UNEXPLAINED, and the worst entries with the
words they lost. Never fails on a figure; exits non-zero when a feed fails with an internal
error.
"""

from __future__ import annotations

import argparse
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

from monitor import aio  # noqa: E402
from monitor.archive import open_archive  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.poll.poller import Poller  # noqa: E402
from monitor.text.normalize import html_to_text, item_text  # noqa: E402
from monitor.text.tokens import tokenize  # noqa: E402

DEFAULT_FEEDS = REPO.parent / "shared" / "feeds-dev"
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".json", ".rdf")
_NOT_TEXT = ("script", "style", "template")
_INLINE = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i",
        "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
        "time", "tt", "u", "var", "del", "ins", "wbr",
    }
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Expected:
    """One entry as the feed gives it: where it is, and its words."""

    feed: str  # path relative to the feeds folder
    index: int
    link: str
    guid: str
    words: tuple[str, ...]
    html: tuple[str, ...] = ()  # the entry's HTML values, to explain what they lose
    title: str = ""  # as plain text: some furniture is told by it

    @property
    def empty(self) -> bool:
        """Nothing to archive: no words and no web link (an id as link does not count)."""
        return not self.words and not self.link.lower().startswith(("http://", "https://"))


@dataclass(frozen=True, kw_only=True)
class Compared:
    expected: Expected
    archived: bool
    recall: float
    lost: tuple[str, ...]
    explained_by: tuple[str, ...] = ()  # rules whose removals hold every lost word


@dataclass(kw_only=True)
class Report:
    feeds: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    internal_errors: list[str] = field(default_factory=list)
    entries: int = 0
    empty: int = 0
    archived: int = 0
    mean_recall: float = 0.0
    losing_2: int = 0
    losing_2_unexplained: int = 0
    losing_10: int = 0
    explained: Counter[str] = field(default_factory=Counter)
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
    # As a browser shows it: inline elements run on ("19<sup>th</sup>" is one word), other
    # elements are set apart.
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag not in _INLINE:
            node.tail = " " + (node.tail or "")
            node.text = " " + (node.text or "")
    return tokenize(etree.tostring(root, method="text", encoding="unicode"))


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def _detail_words(detail: Any, fallback: str) -> list[str]:
    value = str((detail or {}).get("value") or fallback)
    kind = str((detail or {}).get("type") or "text/html")
    return html_words(value) if "html" in kind or "xml" in kind else tokenize(value)


def _html_values(entry: Any) -> tuple[str, ...]:
    details = [
        entry.get("title_detail"),
        entry.get("summary_detail"),
        *(entry.get("content") or []),
    ]
    return tuple(str(d.get("value") or "") for d in details if d and "html" in str(d.get("type")))


def expected_entries(path: Path, relative: str) -> list[Expected]:
    data = path.read_bytes()
    if data.lstrip()[:1] == b"{" or path.suffix == ".json":
        return _json_entries(data, relative)
    # As the feed carries it: feedparser's sanitizer would drop some of it (and leave the
    # text of some scripts behind); tags are stripped here, script and style text with them.
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
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
                html=_html_values(entry),
                title=html_to_text(str(entry.get("title") or "")),
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

        def text(key: str, item: dict[str, Any] = item) -> str:
            value = item.get(key)
            return value if isinstance(value, str) else ""  # the spec's strings only

        words = tokenize(text("title"))
        # Its content (both forms, each word as often as the fuller has it), else its summary.
        body = Counter(html_words(text("content_html"))) | Counter(tokenize(text("content_text")))
        if not body:
            body = Counter(tokenize(text("summary")))
        out.append(
            Expected(
                feed=relative,
                index=i,
                link=text("url") or text("external_url"),
                guid=str(item.get("id") or ""),
                words=tuple(words + list(body.elements())),
                html=(text("content_html"),) if text("content_html") else (),
                title=text("title"),
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
        summary = aio.run(poller.poll(all_feeds=True))
    finally:
        poller.close()
        archive.close()
    seconds = time.perf_counter() - started
    failed = ("failed", "gone")
    errors = {o.url: (o.error or o.status) if o.status in failed else "" for o in summary.outcomes}
    return errors, seconds


@dataclass(frozen=True, kw_only=True)
class Stored:
    """A feed's stories in the archive."""

    by_link: dict[str, list[int]]  # story seqs by the link the feed gave
    words: dict[int, Counter[str]]
    others: set[int]  # stories whose text is another feed's (theirs was fuller)


def stored_words(db: sqlite3.Connection, feed_url: str) -> Stored:
    rows = db.execute(
        "SELECT s.seq, ss.link, s.headline, s.body, s.text_feed != f.id FROM story_sources ss "
        "JOIN stories s ON s.seq = ss.story_seq JOIN feeds f ON f.id = ss.feed_id "
        "WHERE f.url = ?",
        (feed_url,),
    ).fetchall()
    stored = Stored(by_link={}, words={}, others=set())
    for seq, link, headline, body, other in rows:
        stored.by_link.setdefault(link, []).append(seq)
        stored.words[seq] = Counter(tokenize(headline + "\n" + body))
        if other:
            stored.others.add(seq)
    return stored


def guid_story(db: sqlite3.Connection, feed_url: str, guid: str) -> int | None:
    row = db.execute(
        "SELECT k.story_seq FROM story_keys k JOIN feeds f ON k.key = 'guid:' || f.id || ':' || ? "
        "WHERE f.url = ?",
        (guid, feed_url),
    ).fetchone()
    return int(row[0]) if row else None


OTHER_VERSION = "another feed's fuller version"


def compare(expected: Expected, story: Counter[str] | None, *, other: bool = False) -> Compared:
    want = Counter(expected.words)
    if story is None:
        return Compared(expected=expected, archived=False, recall=0.0, lost=expected.words)
    if not want:
        return Compared(expected=expected, archived=True, recall=1.0, lost=())
    missing = want - story
    recall = 1 - sum(missing.values()) / sum(want.values())
    return Compared(
        expected=expected,
        archived=True,
        recall=recall,
        lost=tuple(missing.elements()),
        explained_by=(explain(expected, missing) or ((OTHER_VERSION,) if other else ()))
        if missing
        else (),
    )


def explain(expected: Expected, missing: Counter[str]) -> tuple[str, ...]:
    """The rules whose removals from the entry's HTML hold every missing word, or ()."""
    removed: Counter[str] = Counter()
    rules: set[str] = set()
    for html in expected.html:
        here: Counter[str] = Counter()
        for rule, text in item_text(html, expected.title).removed:
            words = Counter(tokenize(text))
            if words & missing:
                rules.add(rule)
            here += words
        removed |= here
    return tuple(sorted(rules)) if not missing - removed else ()


def _reason_group(error: str) -> str:
    error = re.sub(r"https?://\S+", "URL", error)
    error = re.sub(r"\d+", "N", error)
    return error[:120]


def measure(
    root: Path, *, worst: int = 10, workers: int | None = None, keep: Path | None = None
) -> tuple[Report, list[Compared]]:
    """Serve, poll and compare; ``keep``: a folder to leave the config and archive in."""
    files = feed_files(root)
    relatives = [p.relative_to(root).as_posix() for p in files]
    report = Report(feeds=len(files))
    with tempfile.TemporaryDirectory() as scratch, serve(root) as base:
        tmp = keep or Path(scratch)
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
            expected = [e for e in expected_entries(path, relative) if not e.empty]
            report.empty += len(expected_entries(path, relative)) - len(expected)
            if not expected:
                continue
            stored = stored_words(db, url)
            for entry in expected:
                seqs = stored.by_link.get(urljoin(url, entry.link), []) if entry.link else []
                if entry.guid:  # the feed's own GUID first: several items may share a link
                    found = guid_story(db, url, entry.guid)
                    seqs = [found] if found is not None else seqs
                if not seqs and not entry.link:
                    seqs = list(stored.words)  # nothing identifies it: the closest story
                candidates = [
                    compare(entry, stored.words[s], other=s in stored.others) for s in seqs
                ]
                compared.append(
                    max(candidates, key=lambda c: c.recall) if candidates else compare(entry, None)
                )
        db.close()
    report.entries = len(compared)
    report.archived = sum(c.archived for c in compared)
    report.mean_recall = sum(c.recall for c in compared) / len(compared) if compared else 1.0
    losing = [c for c in compared if c.recall < 0.98]
    report.losing_2 = len(losing)
    report.losing_2_unexplained = sum(not c.explained_by for c in losing)
    report.explained = Counter(" + ".join(c.explained_by) or "UNEXPLAINED" for c in losing)
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
            "explained_by": " + ".join(c.explained_by) or "UNEXPLAINED",
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
    print(
        f"entries                    {report.entries} (and {report.empty} with nothing to archive)"
    )
    print(
        f"entries archived           {report.archived} "
        f"({_percent(report.archived, report.entries)}; target >= 99%)"
    )
    print(f"mean word recall           {report.mean_recall:.4f} (target >= 0.995; baseline 1.0)")
    print(
        f"losing > 2% of words       {report.losing_2} "
        f"({_percent(report.losing_2, report.entries)}; target <= 0.5%)"
    )
    for reason, count in report.explained.most_common():
        print(f"    {count:5d}  {reason}")
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
                f"{'' if w['archived'] else ' (not archived)'}  [{w['explained_by']}]"
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
        figures = asdict(report) | {
            "failed": dict(report.failed),
            "explained": dict(report.explained),
        }
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 1 if report.internal_errors else 0


if __name__ == "__main__":
    sys.exit(main())
