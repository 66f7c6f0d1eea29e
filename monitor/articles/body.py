"""Our own article body extractor: Readability-style scoring over an lxml tree.

The way Mozilla Readability finds an article: drop hidden and unlikely elements,
score each paragraph (length and commas) into its ancestors, discount link-heavy
candidates, take the best one with the siblings that share its content, then clean
the result conditionally (link lists, forms, image galleries). When that yields
little text it retries with fewer rules, as Readability does.

Every walk is iterative, so deeply nested markup cannot exhaust the recursion limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from copy import deepcopy

from lxml import etree

_UNLIKELY = re.compile(
    r"-ad-|ai2html|banner|breadcrumbs|combx|comment|community|cover-wrap|disqus|extra|footer|"
    r"gdpr|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social|"
    r"sponsor|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote",
    re.IGNORECASE,
)
_MAYBE = re.compile(r"and|article|body|column|content|main|mathjax|shadow", re.IGNORECASE)
_POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story",
    re.IGNORECASE,
)
_NEGATIVE = re.compile(
    r"-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|footer|gdpr|"
    r"masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|"
    r"sponsor|shopping|tags|widget",
    re.IGNORECASE,
)
_SHARE = re.compile(r"(\b|_)(share|sharedaddy)(\b|_)", re.IGNORECASE)
_AD_WORDS = re.compile(
    r"^(ad(vertising|vertisement)?|pub(licit[ée])?|werb(ung)?|广告|Реклама|Anuncio)$",
    re.IGNORECASE,
)
_LOADING_WORDS = re.compile(
    r"^((loading|正在加载|Загрузка|chargement|cargando)(…|\.\.\.)?)$", re.IGNORECASE
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]+")
_COMMAS = re.compile("[,\u060c\ufe50\ufe10\ufe11\u2e41\u2e34\u2e32\uff0c]")
_SENTENCE_END = re.compile(r"\.( |$)")
_VIDEO = re.compile(
    r"//(www\.)?((dailymotion|youtube|youtube-nocookie|player\.vimeo|v\.qq)\.com|"
    r"(archive|upload\.wikimedia)\.org|player\.twitch\.tv)",
    re.IGNORECASE,
)

_UNLIKELY_ROLES = frozenset(
    {"menu", "menubar", "complementary", "navigation", "alert", "alertdialog", "dialog"}
)
_TO_SCORE = frozenset({"section", "h2", "h3", "h4", "h5", "h6", "p", "td", "pre"})
_BLOCKS = frozenset(
    {
        "blockquote", "dl", "div", "img", "ol", "p", "pre", "table", "ul", "section",
        "article", "header", "footer", "aside", "nav", "form", "figure", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "main", "address", "fieldset", "li", "details",
    }
)  # fmt: skip
_PHRASING = frozenset(
    {
        "abbr", "audio", "b", "bdo", "br", "button", "cite", "code", "data", "datalist",
        "dfn", "em", "embed", "i", "img", "input", "kbd", "label", "mark", "math", "meter",
        "noscript", "object", "output", "progress", "q", "ruby", "samp", "script", "select",
        "small", "span", "strong", "sub", "sup", "textarea", "time", "var", "wbr", "a",
        "del", "ins", "font", "u", "s", "strike", "big", "tt",
    }
)  # fmt: skip
_EMPTY_OK = frozenset({"div", "section", "header", "h1", "h2", "h3", "h4", "h5", "h6"})
_ALWAYS_DROP = frozenset(
    {"script", "style", "noscript", "template", "link", "meta", "object", "embed", "footer",
     "aside", "iframe", "input", "textarea", "select", "button", "form", "fieldset", "nav",
     "svg", "canvas", "dialog", "menu"}
)  # fmt: skip
_TAG_SCORE = {
    "div": 5, "pre": 3, "td": 3, "blockquote": 3, "address": -3, "ol": -3, "ul": -3,
    "dl": -3, "dd": -3, "dt": -3, "li": -3, "form": -3, "h1": -5, "h2": -5, "h3": -5,
    "h4": -5, "h5": -5, "h6": -5, "th": -5,
}  # fmt: skip

CHAR_THRESHOLD = 500
TOP_CANDIDATES = 5
MIN_ALTERNATIVES = 3
RETRY_BUDGET = 40_000  # elements visited over all attempts before retries stop

Element = etree._Element


class OutOfTime(Exception):
    """The extraction ran past its deadline."""


class Deadline:
    """A budget of this thread's CPU time (so that a busy machine does not cut short a
    page that is merely big), checked every CHECK_EVERY ticks of a loop."""

    CHECK_EVERY = 256

    def __init__(self, seconds: float) -> None:
        self.at = time.thread_time() + seconds
        self.ticks = 0

    def passed(self) -> bool:
        return time.thread_time() > self.at

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % self.CHECK_EVERY == 0 and self.passed():
            raise OutOfTime


def _iter_elements(root: Element) -> Iterator[Element]:
    """Elements in document order (no comments or processing instructions)."""
    for el in root.iter():
        if isinstance(el.tag, str):
            yield el


def raw_text(el: Element) -> str:
    """All the text inside an element (not its tail)."""
    return str(etree.tostring(el, method="text", encoding="unicode", with_tail=False))


def text_of(el: Element) -> str:
    """The text inside an element with its whitespace runs collapsed."""
    return " ".join(raw_text(el).split())


MAX_NAME = 300  # characters of a class or id attribute that are looked at


def _class_id(el: Element) -> str:
    return f"{el.get('class', '')[:MAX_NAME]} {el.get('id', '')[:MAX_NAME]}"


def class_weight(el: Element) -> int:
    weight = 0
    for value in (el.get("class"), el.get("id")):
        if value:
            value = value[:MAX_NAME]
            if _NEGATIVE.search(value):
                weight -= 25
            if _POSITIVE.search(value):
                weight += 25
    return weight


def _collapsed(text: str | None) -> int:
    """Length of a text with its whitespace runs collapsed (spaces around it kept as one)."""
    if not text:
        return 0
    words = text.split()
    if not words:
        return 1
    return sum(map(len, words)) + len(words) - 1 + (text[0].isspace()) + (text[-1].isspace())


def _link_weight(a: Element) -> float:
    href = a.get("href") or ""
    return 0.3 if href.startswith("#") and len(href) > 1 else 1.0


def link_density(el: Element, text_length: int | None = None) -> float:
    length = len(text_of(el)) if text_length is None else text_length
    if not length:
        return 0.0
    return sum(len(text_of(a)) * _link_weight(a) for a in el.iter("a")) / length


def xml_safe(text: str | None) -> str | None:
    """Text lxml accepts when it is set (it may hold control characters once parsed)."""
    return _XML_UNSAFE.sub("", text) if text else text


def drop(el: Element) -> None:
    """Remove an element but keep the text that follows it (its tail)."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail and el.tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = xml_safe((prev.tail or "") + el.tail)
        else:
            parent.text = xml_safe((parent.text or "") + el.tail)
    parent.remove(el)


def is_hidden(el: Element) -> bool:
    style = el.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    if el.get("hidden") is not None:
        return True
    return el.get("aria-hidden") == "true" and "fallback-image" not in el.get("class", "")


def _has_ancestor(el: Element, tags: frozenset[str], depth: int = 3) -> bool:
    parent = el.getparent()
    level = 0
    while parent is not None and (depth <= 0 or level < depth):
        if parent.tag in tags:
            return True
        parent = parent.getparent()
        level += 1
    return False


def _has_block_child(el: Element) -> bool:
    return any(d.tag in _BLOCKS for d in el.iterdescendants())


def _without_content(el: Element) -> bool:
    if el.text and el.text.strip():
        return False
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag not in ("br", "hr") or (child.tail and child.tail.strip()):
            return False
    return not text_of(el)


def _wrap_phrasing(div: Element) -> None:
    """Runs of inline content directly inside a div become paragraphs."""
    if not (div.text and div.text.strip()) and all(
        c.tag not in _PHRASING or c.tag == "br" for c in div if isinstance(c.tag, str)
    ):
        return
    children = list(div)
    if not children:
        return
    new_children: list[Element] = []
    current: Element | None = None
    if div.text and div.text.strip():
        current = etree.Element("p")
        current.text = xml_safe(div.text)
    div.text = None
    for child in children:
        is_inline = not isinstance(child.tag, str) or child.tag in _PHRASING
        if is_inline and child.tag != "br":
            if current is None:
                current = etree.Element("p")
            current.append(child)  # moves it, tail included
        else:
            if current is not None:
                new_children.append(current)
                current = None
            tail = child.tail
            child.tail = None
            new_children.append(child)
            if tail and tail.strip():
                current = etree.Element("p")
                current.text = xml_safe(tail)
    if current is not None:
        new_children.append(current)
    for child in list(div):
        div.remove(child)
    div.extend(p for p in new_children if not _is_blank_p(p))


def _is_blank_p(el: Element) -> bool:
    return el.tag == "p" and len(el) == 0 and not (el.text and el.text.strip())


class _Scorer:
    def __init__(
        self,
        body: Element,
        deadline: Deadline,
        *,
        strip_unlikely: bool,
        weight: bool,
        clean: bool,
    ) -> None:
        self.body = body
        self.tick = deadline.tick
        self.strip_unlikely = strip_unlikely
        self.weight = weight
        self.clean = clean
        self.scores: dict[Element, float] = {}
        self.lengths: dict[Element, int] = {}
        self.link_lengths: dict[Element, float] = {}

    def measure(self) -> None:
        """Text and link-text lengths of every element, in one pass from the leaves up."""
        lengths, links = self.lengths, self.link_lengths
        for _, el in etree.iterwalk(self.body, events=("end",)):
            self.tick()
            total = _collapsed(el.text)
            linked = 0.0
            for child in el:
                if isinstance(child.tag, str):
                    total += lengths[child]
                    linked += links[child]
                total += _collapsed(child.tail)
            lengths[el] = total
            links[el] = total * _link_weight(el) if el.tag == "a" else linked

    def length(self, el: Element) -> int:
        return self.lengths.get(el, 0)

    def link_density(self, el: Element) -> float:
        length = self.lengths.get(el, 0)
        return self.link_lengths.get(el, 0.0) / length if length else 0.0

    def weight_of(self, el: Element) -> int:
        return class_weight(el) if self.weight else 0

    def prepare(self) -> list[Element]:
        """Drop hidden and unlikely elements; return the elements to score."""
        to_score: list[Element] = []
        stack = [self.body]
        while stack:
            el = stack.pop()
            self.tick()
            if not isinstance(el.tag, str):
                continue
            if el is not self.body and self._unwanted(el):
                drop(el)
                continue
            tag = el.tag
            if tag in _TO_SCORE:
                to_score.append(el)
            elif tag == "div":
                _wrap_phrasing(el)
                kids = [c for c in el if isinstance(c.tag, str)]
                if not (
                    len(kids) == 1
                    and kids[0].tag == "p"
                    and not (el.text and el.text.strip())
                    and link_density(el) < 0.25
                ) and not _has_block_child(el):
                    el.tag = "p"
                    to_score.append(el)
            stack.extend(reversed(el))
        return to_score

    def _unwanted(self, el: Element) -> bool:
        tag = el.tag
        if tag in _ALWAYS_DROP or is_hidden(el):
            return True
        if self.strip_unlikely and tag != "a":
            match = _class_id(el)
            if (
                _UNLIKELY.search(match)
                and not _MAYBE.search(match)
                and not _has_ancestor(el, frozenset({"table", "code"}), 0)
            ) or el.get("role") in _UNLIKELY_ROLES:
                return True
        return tag in _EMPTY_OK and _without_content(el) and not _has_media(el)

    def score(self, to_score: list[Element]) -> list[Element]:
        candidates: list[Element] = []
        for el in to_score:
            self.tick()
            parent = el.getparent()
            if parent is None:
                continue
            if self.lengths.get(el, 0) < 25:
                continue
            text = text_of(el)
            if len(text) < 25:
                continue
            points = 1 + len(_COMMAS.findall(text)) + 1 + min(len(text) // 100, 3)
            ancestor: Element | None = parent
            level = 0
            while ancestor is not None and level < 5:
                if not isinstance(ancestor.tag, str) or ancestor.getparent() is None:
                    break
                if ancestor not in self.scores:
                    self.scores[ancestor] = _TAG_SCORE.get(ancestor.tag, 0) + self.weight_of(
                        ancestor
                    )
                    candidates.append(ancestor)
                divider = 1 if level == 0 else 2 if level == 1 else level * 3
                self.scores[ancestor] += points / divider
                ancestor = ancestor.getparent()
                level += 1
        for el in candidates:
            self.scores[el] *= 1 - self.link_density(el)
        candidates.sort(key=lambda el: self.scores[el], reverse=True)
        return candidates[:TOP_CANDIDATES]

    def top(self, best: list[Element]) -> Element | None:
        if not best or best[0] is self.body:
            return None
        top = best[0]
        top_score = self.scores[top]
        alternatives = [
            list(_ancestors(el))
            for el in best[1:]
            if top_score > 0 and self.scores[el] / top_score >= 0.75
        ]
        if len(alternatives) >= MIN_ALTERNATIVES:
            parent = top.getparent()
            while parent is not None and parent is not self.body:
                if sum(parent in a for a in alternatives) >= MIN_ALTERNATIVES:
                    top = parent
                    break
                parent = parent.getparent()
        if top not in self.scores:
            self.scores[top] = _TAG_SCORE.get(top.tag, 0) + self.weight_of(top)
        last = self.scores[top]
        threshold = last / 3
        parent = top.getparent()
        while parent is not None and parent is not self.body:
            if parent not in self.scores:
                parent = parent.getparent()
                continue
            score = self.scores[parent]
            if score < threshold:
                break
            if score > last:
                top = parent
                break
            last = score
            parent = parent.getparent()
        parent = top.getparent()
        while parent is not None and parent is not self.body and len(parent) == 1:
            top = parent
            parent = top.getparent()
        return top

    def gather(self, top: Element | None) -> Element:
        """The top candidate with the siblings that look like part of the same article."""
        article = etree.Element("div")
        if top is None:
            article.extend(deepcopy(c) for c in self.body)
            return article
        parent = top.getparent()
        siblings = [top] if parent is None else [c for c in parent if isinstance(c.tag, str)]
        top_score = self.scores.get(top, 0.0)
        threshold = max(10.0, top_score * 0.2)
        top_class = top.get("class", "")
        for sibling in siblings:
            keep = sibling is top
            if not keep:
                bonus = top_score * 0.2 if top_class and sibling.get("class") == top_class else 0
                if sibling in self.scores and self.scores[sibling] + bonus >= threshold:
                    keep = True
                elif sibling.tag == "p":
                    text = text_of(sibling)
                    density = self.link_density(sibling)
                    long_prose = len(text) > 80 and density < 0.25
                    sentence = 0 < len(text) < 80 and density == 0
                    keep = long_prose or (sentence and bool(_SENTENCE_END.search(text)))
            if keep:
                copy = deepcopy(sibling)
                copy.tail = None
                article.append(copy)
        return article

    def clean_article(self, article: Element) -> None:
        for el in list(article.iter("h1", "h2")):
            if self.weight_of(el) < 0:
                drop(el)
        for el in list(_iter_elements(article)):
            self.tick()
            if (
                el.tag not in ("a", "p", "li", "span")
                and el is not article
                and _SHARE.search(_class_id(el))
                and len(text_of(el)) < 500
            ):
                drop(el)
        if self.clean:
            for tag in ("table", "ul", "div"):
                for el in reversed(list(article.iter(tag))):
                    self.tick()
                    if el is not article and self.conditionally_remove(el):
                        drop(el)

    def conditionally_remove(self, el: Element) -> bool:
        if el.tag == "table" and _is_data_table(el):
            return False
        if _has_ancestor(el, frozenset({"table"}), 0) and any(
            _is_data_table(a) for a in el.iterancestors("table")
        ):
            return False
        if _has_ancestor(el, frozenset({"code", "pre"}), 0):
            return False
        is_list = el.tag in ("ul", "ol")
        text = text_of(el)
        if not is_list and len(el) == 0 and not text:
            return False
        if _AD_WORDS.match(text) or _LOADING_WORDS.match(text):
            return True
        weight = self.weight_of(el)
        if weight < 0:
            return True
        if len(_COMMAS.findall(text)) >= 10:
            return False
        paragraphs = sum(1 for _ in el.iter("p"))
        images = sum(1 for _ in el.iter("img"))
        items = sum(1 for _ in el.iter("li")) - 100
        inputs = sum(1 for _ in el.iter("input"))
        heading_chars = sum(len(text_of(h)) for h in el.iter("h1", "h2", "h3", "h4", "h5", "h6"))
        heading_density = heading_chars / len(text) if text else 0.0
        embeds = sum(
            1
            for e in el.iter("object", "embed", "iframe")
            if not _VIDEO.search(" ".join(str(v) for v in e.values()))
        )
        density = link_density(el, len(text))
        in_figure = _has_ancestor(el, frozenset({"figure"}), 0)
        remove = (
            (images > 1 and paragraphs / images < 0.5 and not in_figure)
            or (not is_list and items > paragraphs)
            or inputs > paragraphs // 3
            or (
                not is_list
                and heading_density < 0.9
                and len(text) < 25
                and (images == 0 or images > 2)
                and not in_figure
            )
            or (not is_list and weight < 25 and density > 0.2)
            or (weight >= 25 and density > 0.5)
            or (embeds == 1 and len(text) < 75)
            or embeds > 1
        )
        if is_list and remove:
            # A gallery: every item holds exactly one image.
            kids = [c for c in el if isinstance(c.tag, str)]
            if kids and all(sum(1 for _ in k.iter("img")) == 1 and len(k) <= 1 for k in kids):
                return False
        return remove


def _ancestors(el: Element) -> Iterator[Element]:
    parent = el.getparent()
    while parent is not None:
        yield parent
        parent = parent.getparent()


def _has_media(el: Element) -> bool:
    return any(True for _ in el.iter("img", "picture", "video", "iframe", "embed", "object"))


def _is_data_table(table: Element) -> bool:
    if table.get("role") == "presentation" or table.get("datatable") == "0":
        return False
    if (
        table.get("summary")
        or next(table.iter("caption", "thead", "th", "tfoot"), None) is not None
    ):
        return True
    if next(table.iter("table"), table) is not table:
        # nested table: a layout table
        inner = [t for t in table.iter("table") if t is not table]
        if inner:
            return False
    rows = sum(1 for _ in table.iter("tr"))
    cols = max((sum(1 for c in tr if c.tag in ("td", "th")) for tr in table.iter("tr")), default=0)
    return rows >= 10 or cols > 4 or rows * cols > 10


def readability_article(body: Element, deadline: Deadline | None = None) -> Element | None:
    """The article element of a page body (a copy; the input tree is not changed).

    Tries with all rules, then without unlikely-stripping, class weights and conditional
    cleaning in turn, while the result has fewer than CHAR_THRESHOLD characters; the
    longest attempt wins if none reaches it. Retries stop when the deadline has passed
    or RETRY_BUDGET elements have been visited; OutOfTime is raised when the deadline
    passes before any attempt is complete.
    """
    deadline = deadline or Deadline(float("inf"))  # no limit
    size = sum(1 for _ in body.iter())
    attempts: list[tuple[int, Element]] = []
    flags = [(True, True, True), (False, True, True), (False, False, True), (False, False, False)]
    for strip_unlikely, weight, clean in flags:
        if attempts and (deadline.passed() or size * (len(attempts) + 1) > RETRY_BUDGET):
            break
        scorer = _Scorer(
            deepcopy(body), deadline, strip_unlikely=strip_unlikely, weight=weight, clean=clean
        )
        try:
            to_score = scorer.prepare()
            scorer.measure()
            article = scorer.gather(scorer.top(scorer.score(to_score)))
            scorer.clean_article(article)
        except OutOfTime:
            if not attempts:
                raise
            break
        length = len(text_of(article))
        if length >= CHAR_THRESHOLD:
            return article
        attempts.append((length, article))
    length, article = max(attempts, key=lambda a: a[0])
    return article if length else None
