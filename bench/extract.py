"""Scores the article extractor against trafilatura on a folder of test pages.

    python bench/extract.py DIR [--pages] [--repeat N] [--only NAME...]

DIR holds one folder per page with ``source.html``, ``expected.html`` (the expected
article) and ``expected-metadata.json`` (title, publishedTime, ...), as in
shared/extraction-dev/pages. For every page, in the same run, three configurations:

- ours alone: ``extract_article(use_trafilatura=False)``, our extractor without the
  second one (what an install without trafilatura runs);
- default install: ``extract_article`` as ``pip install -e .`` runs it, ours with
  trafilatura asked when ours may have missed text;
- trafilatura alone: ``trafilatura.extract`` (comments off, otherwise its defaults),
  the baseline.

Body quality is F1 over word 4-gram shingles of the body text against the text of
expected.html (per-page precision and recall, F1 averaged over pages). Time per page is
wall time (perf_counter) and CPU time (process_time), each the best of --repeat runs.
Metadata (ours, both configurations read it alike): headline right (normalized
comparison with the expected title) and published right (same date, or same instant
when both have times) on the pages whose expected metadata has them.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from lxml import etree
from lxml import html as lxml_html

from monitor.articles.extract import extract_article

try:
    import trafilatura
except ImportError:
    sys.exit("bench/extract.py needs trafilatura, a dependency: pip install -e .")

_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "h1", "h2", "h3", "h4",
        "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr",
        "td", "th", "figure", "figcaption", "br", "hr", "aside", "details", "summary",
    }
)  # fmt: skip
_WORD = re.compile(r"\w+")
_NONWORD = re.compile(r"\W+")
SHINGLE = 4
T = TypeVar("T")


def expected_text(path: Path) -> str:
    """Text of an expected.html, with a line break at block edges."""
    root = lxml_html.fromstring(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _BLOCK:
                out.append("\n")
            if el.text and tag and tag not in ("script", "style"):
                out.append(el.text)
        else:
            if tag in _BLOCK:
                out.append("\n")
            if el.tail:
                out.append(el.tail)
    return "".join(out)


def shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    if len(words) < SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def score(got: str, expected: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of the shingles of got against those of expected."""
    g, e = shingles(got), shingles(expected)
    if not g and not e:
        return 1.0, 1.0, 1.0
    common = len(g & e)
    if not common:
        return 0.0, 0.0, 0.0
    p, r = common / len(g), common / len(e)
    return p, r, 2 * p * r / (p + r)


def same_title(got: str | None, expected: str) -> bool:
    def norm(s: str) -> str:
        return _NONWORD.sub(" ", unicodedata.normalize("NFKC", s).casefold()).strip()

    return got is not None and norm(got) == norm(expected)


def _expected_time(value: str) -> tuple[datetime, bool] | None:
    value = value.strip()
    m = re.match(
        r"(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?)?", value
    )
    if not m:
        return None
    day, clock, _, zone = m.groups()
    text = day + (f"T{clock}" if clock else "")
    if zone:
        text += "+00:00" if zone == "Z" else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    parsed = datetime.fromisoformat(text)
    return parsed, clock is not None


def same_time(got: datetime | None, expected: str) -> bool:
    parsed = _expected_time(expected)
    if got is None or parsed is None:
        return False
    when, has_clock = parsed
    if has_clock:
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        if aware == got:
            return True
    local = got.astimezone(when.tzinfo) if when.tzinfo else got
    return local.date() == when.date() or got.date() == when.date()


@dataclass
class Page:
    name: str
    source: bytes
    expected: str
    title: str | None
    published: str | None


def load_pages(folder: Path, only: list[str]) -> list[Page]:
    pages = []
    for d in sorted(p for p in folder.iterdir() if (p / "source.html").is_file()):
        if only and d.name not in only:
            continue
        meta = json.loads((d / "expected-metadata.json").read_text(encoding="utf-8"))
        pages.append(
            Page(
                d.name,
                (d / "source.html").read_bytes(),
                expected_text(d / "expected.html"),
                meta.get("title") or None,
                meta.get("publishedTime") or None,
            )
        )
    return pages


@dataclass(frozen=True)
class Timing:
    wall_ms: float
    cpu_ms: float


def _timed(fn: Callable[[], T], repeat: int) -> tuple[T, Timing]:
    """fn's result and its best wall and CPU time over ``repeat`` runs (each taken alone:
    a page whose best wall time came with a CPU hiccup still shows its best CPU time)."""
    wall = cpu = float("inf")
    for _ in range(max(1, repeat)):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpu = min(cpu, time.process_time() - start_cpu)
        wall = min(wall, time.perf_counter() - start)
    return result, Timing(wall * 1000, cpu * 1000)


def _trafilatura(source: bytes) -> str:
    return trafilatura.extract(source, include_comments=False) or ""


@dataclass
class Column:
    """One configuration's scores and times over the pages."""

    name: str
    f1: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def add(self, f1: float, timing: Timing) -> None:
        self.f1.append(f1)
        self.wall_ms.append(timing.wall_ms)
        self.cpu_ms.append(timing.cpu_ms)

    def line(self, baseline: Column) -> str:
        f1, wall, cpu = (statistics.mean(v) for v in (self.f1, self.wall_ms, self.cpu_ms))
        base_wall = statistics.mean(baseline.wall_ms)
        base_cpu = statistics.mean(baseline.cpu_ms)
        return (
            f"{self.name:18} F1 {f1:.4f} ({f1 - statistics.mean(baseline.f1):+.4f})   "
            f"ms/page wall {wall:5.1f} (median {statistics.median(self.wall_ms):5.1f}) "
            f"cpu {cpu:5.1f}   total wall {sum(self.wall_ms) / 1000:5.2f} s "
            f"cpu {sum(self.cpu_ms) / 1000:5.2f} s   "
            f"x traf. wall {wall / base_wall:.2f} cpu {cpu / base_cpu:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--pages", action="store_true", help="print a line per page")
    parser.add_argument("--repeat", type=int, default=1, help="time each page N times, keep best")
    parser.add_argument("--only", nargs="*", default=[], help="page names")
    args = parser.parse_args()
    pages = load_pages(args.dir, args.only)
    if not pages:
        sys.exit(f"no pages in {args.dir}")
    # Warm up all three (imports, caches), so that no page's time carries a one-off cost.
    extract_article(pages[0].source, use_trafilatura=False)
    extract_article(pages[0].source)
    _trafilatura(pages[0].source)

    alone, default, theirs = Column("ours alone"), Column("default install"), Column("trafilatura")
    titles = times = titles_right = times_right = 0
    methods: dict[str, int] = {}
    for page in pages:
        own, own_t = _timed(
            partial(extract_article, page.source, use_trafilatura=False), args.repeat
        )
        article, art_t = _timed(partial(extract_article, page.source), args.repeat)
        text, traf_t = _timed(partial(_trafilatura, page.source), args.repeat)
        s_own = score("\n".join(own.paragraphs), page.expected)
        s_art = score("\n".join(article.paragraphs), page.expected)
        s_traf = score(text, page.expected)
        alone.add(s_own[2], own_t)
        default.add(s_art[2], art_t)
        theirs.add(s_traf[2], traf_t)
        methods[article.method] = methods.get(article.method, 0) + 1
        title_ok = time_ok = None
        if page.title:
            titles += 1
            title_ok = same_title(article.headline, page.title)
            titles_right += title_ok
        if page.published:
            times += 1
            time_ok = same_time(article.published, page.published)
            times_right += time_ok
        if args.pages:
            marks = "".join(m for ok, m in ((title_ok, "H"), (time_ok, "T")) if ok is False)
            print(
                f"{page.name:36} alone F{s_own[2]:.3f} {own_t.wall_ms:6.1f}ms  "
                f"default P{s_art[0]:.2f} R{s_art[1]:.2f} F{s_art[2]:.3f} "
                f"{art_t.wall_ms:6.1f}ms  traf P{s_traf[0]:.2f} R{s_traf[1]:.2f} "
                f"F{s_traf[2]:.3f} {traf_t.wall_ms:6.1f}ms  {article.method[:5]} "
                f"{'miss:' + marks if marks else ''}"
            )
            if title_ok is False:
                print(f"    headline {article.headline!r} expected {page.title!r}")
            if time_ok is False:
                print(f"    published {article.published} expected {page.published!r}")

    def pct(right: int, total: int) -> str:
        return f"{100 * right / total:.1f}% ({right}/{total})" if total else "n/a"

    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    f1_default, f1_theirs = statistics.mean(default.f1), statistics.mean(theirs.f1)
    cpu_default, cpu_theirs = statistics.mean(default.cpu_ms), statistics.mean(theirs.cpu_ms)
    print(f"pages: {len(pages)}   default install's bodies by method: {methods}")
    for column in (alone, default, theirs):
        print(column.line(theirs))
    print(f"F1 default install >= trafilatura's: {met(f1_default >= f1_theirs)}")
    print(f"CPU/page default install <= trafilatura's: {met(cpu_default <= cpu_theirs)}")
    print(
        f"headline right  {pct(titles_right, titles)}   target >= 90%: "
        f"{met(bool(titles) and titles_right >= 0.9 * titles)}"
    )
    print(
        f"published right {pct(times_right, times)}   target >= 90%: "
        f"{met(bool(times) and times_right >= 0.9 * times)}"
    )


if __name__ == "__main__":
    main()
