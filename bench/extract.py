"""Scores the article extractor against trafilatura on a folder of test pages.

    python bench/extract.py DIR [--pages] [--repeat N] [--only NAME...]

DIR holds one folder per page with ``source.html``, ``expected.html`` (the expected
article) and ``expected-metadata.json`` (title, publishedTime, ...), as in
shared/extraction-dev/pages. For every page, in the same run: our
``extract_article`` and ``trafilatura.extract`` alone (comments off, otherwise its
defaults). Body quality is F1 over word 4-gram shingles of the body text against the
text of expected.html (per-page precision and recall, F1 averaged over pages).
Metadata: headline right (normalized comparison with the expected title) and
published right (same date, or same instant when both have times) on the pages
whose expected metadata has them.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from monitor.articles.extract import extract_article

try:
    import trafilatura
except ImportError:
    sys.exit("bench/extract.py needs trafilatura: pip install trafilatura")

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


def _timed(fn: Callable[[], object], repeat: int) -> tuple[object, float]:
    best = float("inf")
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best * 1000


def _trafilatura(source: bytes) -> str:
    return trafilatura.extract(source, include_comments=False) or ""


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
    extract_article(pages[0].source)  # warm up both (imports, caches)
    _trafilatura(pages[0].source)

    ours_f1, theirs_f1, ours_ms, theirs_ms = [], [], [], []
    titles = times = titles_right = times_right = 0
    methods: dict[str, int] = {}
    for page in pages:
        article, ms = _timed(lambda p=page: extract_article(p.source), args.repeat)
        assert isinstance(article, type(extract_article("")))
        text, tms = _timed(lambda p=page: _trafilatura(p.source), args.repeat)
        ours = score("\n".join(article.paragraphs), page.expected)
        theirs = score(str(text), page.expected)
        ours_f1.append(ours[2])
        theirs_f1.append(theirs[2])
        ours_ms.append(ms)
        theirs_ms.append(tms)
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
                f"{page.name:40} ours P{ours[0]:.2f} R{ours[1]:.2f} F{ours[2]:.3f} "
                f"{ms:6.1f}ms  traf P{theirs[0]:.2f} R{theirs[1]:.2f} F{theirs[2]:.3f} "
                f"{tms:6.1f}ms  {article.method[:5]} {'miss:' + marks if marks else ''}"
            )
            if title_ok is False:
                print(f"    headline {article.headline!r} expected {page.title!r}")
            if time_ok is False:
                print(f"    published {article.published} expected {page.published!r}")

    def pct(right: int, total: int) -> str:
        return f"{100 * right / total:.1f}% ({right}/{total})" if total else "n/a"

    f1_ours, f1_theirs = statistics.mean(ours_f1), statistics.mean(theirs_f1)
    ms_ours, ms_theirs = statistics.mean(ours_ms), statistics.mean(theirs_ms)
    print(f"pages: {len(pages)}   bodies by method: {methods}")
    print(
        f"F1 ours         {f1_ours:.4f}   target >= trafilatura's: "
        f"{'met' if f1_ours >= f1_theirs else 'MISSED'}"
    )
    print(f"F1 trafilatura  {f1_theirs:.4f}")
    print(
        f"ms/page ours    {ms_ours:.1f} (median {statistics.median(ours_ms):.1f})   "
        f"target <= trafilatura's: {'met' if ms_ours <= ms_theirs else 'MISSED'}"
    )
    print(f"ms/page traf.   {ms_theirs:.1f} (median {statistics.median(theirs_ms):.1f})")
    print(
        f"headline right  {pct(titles_right, titles)}   target >= 90%: "
        f"{'met' if titles and titles_right >= 0.9 * titles else 'MISSED'}"
    )
    print(
        f"published right {pct(times_right, times)}   target >= 90%: "
        f"{'met' if times and times_right >= 0.9 * times else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
