"""Named feed furniture: the only text, besides markup, that a feed item loses.

A feed item's title and content keep every word (a dropped word is a missed match), so
nothing is removed from them by shape. What is removed is a short list of boilerplate
that publishing tools add to every item, each rule named, with a real example in the
tests:

* ``wordpress-footer``: the sentence "The post <title> appeared first on <site>." that
  WordPress's Yoast SEO appends to every item, as the last paragraph of its content or at
  the end of its excerpt; only with the item's own title in it and a short site name, so
  that a story's own sentence ("The post office ... appeared first on a notice board") is
  never taken for it. It repeats the title and names the
  site in every story, so a site called "Human Rights Watch" would otherwise match a
  "human rights" topic with each of its items.
* ``feedburner-flare``: FeedBurner's ``<div class="feedflare">`` block of share buttons.
* ``share-links``: a block of share buttons ("Share this:", "Click to share on Facebook")
  marked as such by its class: the share plugins' own (Jetpack's ``sharedaddy``, AddToAny's
  ``addtoany`` and ``a2a_kit``, ``sharethis``), or a plain ``share``/``sharing`` class
  name on a block of at most ``MAX_SHARE_WORDS`` words. Whole class names only: a
  paragraph of ``class="share-price"`` is content.

Tracking pixels (FeedBurner's ``~r`` image, 1x1 images) carry no text and so cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_FLARE = frozenset({"feedflare"})
_SHARE_PLUGINS = frozenset({"sharedaddy", "sharethis", "addtoany", "a2a_kit"})
_SHARE_PLAIN = frozenset(
    {"share", "sharing", "share-tools", "share-buttons", "share-links", "social-share"}
)
MAX_SHARE_WORDS = 30  # a longer block under a plain share class is content after all
# At the start of the paragraph, or after the end of a sentence or an ellipsis.
_WORDPRESS_FOOTER = re.compile(
    r"(?:^|(?<=[.!?\u2026\]]) )The post (?P<title>.+) appeared first on "
    r"(?P<site>[^.]+(?:\.\w+)*) ?\.?$"
)
MAX_SITE_WORDS = 8
_FOLD = re.compile(r"\W+")


def _fold(text: str) -> str:
    return _FOLD.sub(" ", text.casefold()).strip()


def element_rule(attrs: Mapping[str, Any], words: Callable[[], int]) -> str | None:
    """The furniture rule an element falls under by its class, or None.

    ``words`` counts the words of the element's text; asked only when that decides.
    """
    value = attrs.get("class")
    if not value:
        return None
    names = {n.lower() for n in (value if isinstance(value, list) else str(value).split())}
    if not _FLARE.isdisjoint(names):
        return "feedburner-flare"
    if not _SHARE_PLUGINS.isdisjoint(names):
        return "share-links"
    if not _SHARE_PLAIN.isdisjoint(names) and words() <= MAX_SHARE_WORDS:
        return "share-links"
    return None


def may_be_furniture(class_value: str) -> bool:
    """Whether an element with this class attribute could fall under a rule of element_rule."""
    names = {n.lower() for n in class_value.split()}
    return not (_FLARE.isdisjoint(names) and _SHARE_PLUGINS.isdisjoint(names)) or not (
        _SHARE_PLAIN.isdisjoint(names)
    )


def last_paragraph_rule(paragraph: str, title: str) -> tuple[str, str] | None:
    """(rule, what is left of it) when the item's last paragraph ends in furniture."""
    if "The post " not in paragraph:  # what the pattern needs; a search is far slower
        return None
    found = _WORDPRESS_FOOTER.search(paragraph)
    if (
        found is None
        or not title
        or _fold(found["title"]) != _fold(title)
        or len(found["site"].split()) > MAX_SITE_WORDS
    ):
        return None
    return "wordpress-footer", paragraph[: found.start()].rstrip()
