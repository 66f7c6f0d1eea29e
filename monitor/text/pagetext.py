"""Page text: the story inside a scraped page's text, its chrome recognised by shape.

Only for text that comes from a web page (a saved page given to ``monitor match``, text
copied off a page such as the seed stories): never for a feed item, which keeps every word
(``monitor.text.normalize``). Pure functions.

The shapes: a *prose* paragraph is a sentence of several words ending in terminal
punctuation (or a long one); the headline is the title-like line nearest before the first
prose, preferring one without figures; lines above the headline are the page's header
("Sign up for our newsletter", "Last Updated: ..."), and lines of bare labels after the
last prose paragraph ("Privacy Terms Contact", "CBS News App Open") are its footer. A
paragraph is never dropped for being short or for lacking a full stop alone: lines between
the headline and the last prose paragraph, figures, datelines and captions included, are
all body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from monitor.text.normalize import NOT_TEXT, clean_text, html_paragraphs, is_hidden, word_count

# Elements of a page whose content is never story text.
_DROP = NOT_TEXT | frozenset(
    {
        "noscript", "iframe", "object", "embed", "svg", "canvas", "nav", "footer", "aside",
        "form", "button", "select", "input", "textarea", "figure", "figcaption", "img",
        "picture", "video", "audio", "source", "map", "dialog", "menu", "head", "title",
        "meta", "link",
    }
)  # fmt: skip
# class/id words that mark page furniture.
_CHROME_WORDS = frozenset(
    {
        "share", "sharing", "social", "related", "newsletter", "subscribe", "cookie",
        "cookies", "consent", "promo", "advert", "advertisement", "ad", "ads", "banner",
        "popup", "modal", "breadcrumb", "breadcrumbs", "caption", "comments", "sidebar",
        "toolbar", "outbrain", "taboola", "paywall", "signup", "app",
    }
)  # fmt: skip
_CHROME_ROLES = frozenset({"navigation", "banner", "complementary", "dialog", "alert"})
_WORD_SPLIT = re.compile(r"[-_\s]+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_DATELINE = re.compile(
    r"(?i)\b(updated|published|posted|last modified)\b|"
    r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|"
    r"^\W*\d{1,2}:\d{2}\s*(am|pm)?\b"
)
# A sentence end glued to trailing furniture: "an export power.Watch CBS News".
_GLUED_TAIL = re.compile(r"(?<=[a-z0-9][.!?])([A-Z][^.!?]{0,60})$")
# A bare label: a few words of letters, no figures and no punctuation ("Follow us"); a
# run of lines of them after the last prose paragraph is the page's footer.
_LABEL = re.compile(r"^[^\W\d_]+(?:[ '&-][^\W\d_]+){0,5}$")

MAX_TITLE_WORDS = 30
MIN_PROSE_WORDS = 3  # "He declined to comment." is prose; "Read more." is not


def _ends_like_a_sentence(paragraph: str) -> bool:
    """Ends in . ! ? \u2026 or \u3002, then only closing quotes or brackets (and, as a
    regex ``$`` allows, one final line break); checked from the end, without a scan."""
    if paragraph.endswith("\n"):
        paragraph = paragraph[:-1]
    core = paragraph.rstrip("\"'\u2019\u201d)]")
    return bool(core) and core[-1] in ".!?\u2026\u3002"


def is_prose(paragraph: str) -> bool:
    """A sentence or more: ends like a sentence and has a few words, or is long."""
    words = word_count(paragraph)
    return words >= 40 or (words >= MIN_PROSE_WORDS and _ends_like_a_sentence(paragraph))


def is_dateline(paragraph: str) -> bool:
    return word_count(paragraph) <= 12 and bool(_DATELINE.search(paragraph))


def is_title_like(paragraph: str) -> bool:
    words = word_count(paragraph)
    return (
        0 < words <= MAX_TITLE_WORDS
        and len(paragraph) <= 300
        and (paragraph[0].isalnum() or paragraph[0] in "\"'\u2018\u201c")
        and not is_dateline(paragraph)
    )


def _is_chrome(attrs: Mapping[str, Any]) -> bool:
    """Hidden elements and those whose class, id or role names page furniture."""
    if is_hidden(attrs) or attrs.get("aria-hidden") == "true":
        return True
    if attrs.get("role") in _CHROME_ROLES:
        return True
    names = [attrs.get("class"), attrs.get("id")]
    text = " ".join(" ".join(n) if isinstance(n, list) else n for n in names if n)
    return bool(text) and not _CHROME_WORDS.isdisjoint(_WORD_SPLIT.split(text.lower()))


def _page_skip(tag: str, attrs: Mapping[str, Any], text: Callable[[], str]) -> str | None:
    return "" if tag in _DROP or (attrs and _is_chrome(attrs)) else None


def page_paragraphs(html: str) -> list[str]:
    """Paragraphs of a saved web page, without its navigation, asides and furniture."""
    return html_paragraphs(html, _page_skip)


def _cut_glued_tail(paragraph: str) -> str:
    # A match starts at most 61 characters (and a final line break) before the end, and
    # the look-behind still sees what comes before the starting position.
    m = _GLUED_TAIL.search(paragraph, max(0, len(paragraph) - 64))
    if m and 2 <= word_count(m.group(1)) <= 6:
        return paragraph[: m.start()]
    return paragraph


def _headline_at(paragraphs: list[str], first_prose: int) -> int:
    """The title-like line nearest before the first prose, one without figures first."""
    lead = range(first_prose - 1, -1, -1)
    titles = [i for i in lead if is_title_like(paragraphs[i])]
    plain = [i for i in titles if not any(c.isdigit() for c in paragraphs[i])]
    return (plain or titles or [0])[0]


def _is_footer(block: str) -> bool:
    """Every line of the block is a bare label ("View CBS News In", "Follow us")."""
    return all(_LABEL.match(line.strip()) for line in block.splitlines() if line.strip())


def read_page_text(text: str) -> tuple[str, list[str]]:
    """Headline and body paragraphs of text copied off a page, without its chrome."""
    blocks = _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    pairs = [(p, b) for p, b in ((clean_text(b), b) for b in blocks) if p]
    paragraphs = [p for p, _ in pairs]
    if not paragraphs:
        return "", []
    prose = [i for i, p in enumerate(paragraphs) if is_prose(_cut_glued_tail(p))]
    if not prose:
        return paragraphs[0], paragraphs[1:]  # nothing to tell the story from its frame
    first, last = prose[0], prose[-1]
    at = 0 if first == 0 else _headline_at(paragraphs, first)
    tail = [] if all(_is_footer(b) for _, b in pairs[last + 1 :]) else paragraphs[last + 1 :]
    if at == last:  # the headline is the only prose: a story of one line
        return paragraphs[at], tail
    return paragraphs[at], [*paragraphs[at + 1 : last], _cut_glued_tail(paragraphs[last]), *tail]
