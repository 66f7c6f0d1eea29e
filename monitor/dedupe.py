"""Deduplication: which story each entry of a feed is, and what storing it writes.

The archive looks up, the decider decides, the archive writes, all in one transaction.
The decider reads no database and no clock (``now`` comes in): like reader's update
``Decider``, it "does not interact with any dependencies, only processes data", so every
backend stores by the same policy. For one ``store_entries`` call:

1. ``Decider(feed, entries, now, ...)``. The archive finds the story of each of
   ``decider.keys()``; ``decider.searches(known)`` then says, per entry, how to look for the
   stories it may be a copy of (their keys may not place them); the archive runs those and
   loads every story named so far (``decider.stories_to_load``) as ``Known`` values.
2. ``decider.decide(Found(...))`` is the ``Decision``: intents (``AddStory``,
   ``ReplaceText``, ``AddSource``, ``SetArticle`` ...), with each story as the call leaves it.
3. ``decision.name(taken)`` gives the new stories their ids, once the archive has said which
   of the ids it asks about (``Naming.missing``) stories have.

Story identity, which text a story keeps, article attempts and their retries, and every
threshold live here. The sketch math is in ``monitor.text.fingerprint``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.errors import ArchiveError
from monitor.text.fingerprint import (
    INDEXED_HASHES,
    SKETCH_SIZE,
    fingerprint,
    is_near_duplicate,
    probes,
    similarity,
    sketch,
    text_hash,
)
from monitor.types import ContentSource, Entry
from monitor.urls import story_id

__all__ = [
    "ARTICLE_RETRY_DELAYS",
    "INDEXED_HASHES",
    "MIN_SHARED_PROBES",
    "MIN_TOKENS_FOR_TEXT_MATCH",
    "NEAR_CANDIDATES",
    "SKETCH_SIZE",
    "UNTRIED",
    "AddKey",
    "AddSource",
    "AddStory",
    "Attempts",
    "Candidate",
    "Decider",
    "Decision",
    "Found",
    "Intent",
    "Known",
    "MarkToMatch",
    "Naming",
    "ReplaceFeedSketch",
    "ReplaceText",
    "Search",
    "SetArticle",
    "SetWords",
    "Text",
    "Update",
    "entry_keys",
    "identity",
    "is_near_duplicate",
    "reads_body",
    "similarity",
    "sketch",
    "text_hash",
]

# Candidates share at least two of the entry's indexed hashes: one alone is often a common
# phrase ("according to the") and would pull in a growing share of the archive, while
# near-duplicates (similarity >= 0.8) share three or more.
MIN_SHARED_PROBES = 2
# Only the closest few are compared (those sharing the most indexed hashes): a feed of items
# that share most of their text (a template) would otherwise compare each new item with all
# before it.
NEAR_CANDIDATES = 32
# Exact-text matches across different URLs need enough words to mean anything.
MIN_TOKENS_FOR_TEXT_MATCH = 12
# After an article fetch that may succeed later (a timeout, a 5xx), the next attempts wait
# this long; after the last one the story keeps the feed's text for good.
ARTICLE_RETRY_DELAYS: tuple[float, ...] = (300.0, 1800.0, 3 * 3600.0)
ID_ATTEMPTS = 100  # ids derived for one new story before giving up


def entry_keys(entry: Entry, feed: int) -> tuple[str, ...]:
    """What finds the entry's story again: its GUID scoped to its feed, first (within its
    feed it names the item), and its URL."""
    keys = []
    if entry.guid:
        # GUIDs are only unique within their feed ("1", "2", ... are common).
        keys.append(f"guid:{feed}:{entry.guid}")
    if entry.url:
        keys.append(f"url:{entry.url}")
    return tuple(keys)


def identity(entry: Entry, feed: int) -> str:
    """What a new story's id is derived from: its URL, else its GUID, else its text."""
    # GUIDs without a link are only unique within their feed.
    return entry.url or (f"guid:{feed}:{entry.guid}" if entry.guid else f"text:{entry.text_hash}")


def _derived_ids(identity: str) -> Iterator[str]:
    """The ids a new story of ``identity`` may get when its own (``story_id(identity)``) is
    taken: a 64-bit prefix collision, a story that changed its URL, the episodes of a show
    that all link its page must not drop the story."""
    for attempt in range(1, ID_ATTEMPTS):
        yield story_id(f"{identity}#{attempt}")


# -- values the archive looks up ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Text:
    """A text the decider gives a story, and what it is recognised by."""

    headline: str
    paragraphs: tuple[str, ...]
    text_hash: str
    sketch: tuple[int, ...]
    feed_sketch: tuple[int, ...] = ()  # with an article's text: the sketch of the feed's own
    words: int  # tokens
    feed: int  # the feed whose text it is: it may edit it
    body: str = field(init=False, repr=False, compare=False)  # as Story.body

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", "\n\n".join(self.paragraphs))


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempts:
    """A story's article state: which text it has, and the attempts at its page."""

    source: ContentSource = "feed"
    error: str | None = None
    tries: int = 0
    retry: datetime | None = None  # when to try the page again

    def after(self, entry: Entry, now: datetime) -> Attempts:
        """The state once ``entry`` is stored: its article attempt counted, if it made one."""
        failure = entry.article_failure
        if entry.content_source == "article":
            return Attempts(source="article", tries=self.tries + 1)
        if failure is None:
            return self
        if self.source == "article":  # a late failure (a retry claimed twice) changes nothing
            return replace(self, retry=None)
        tries = self.tries + (1 if failure.counted else 0)
        retry = None
        if failure.retry and tries <= len(ARTICLE_RETRY_DELAYS):
            delay = max(ARTICLE_RETRY_DELAYS[max(tries, 1) - 1], failure.retry_after)
            retry = now + timedelta(seconds=delay)
        return Attempts(error=failure.reason, tries=tries, retry=retry)


UNTRIED = Attempts()  # a story whose page was never asked for


@dataclass(frozen=True, kw_only=True, slots=True)
class Known:
    """A stored story, as the archive found it for the call's feed: its text (the fields of
    a ``Text``, with the body as stored) and the feed's relation to it."""

    seq: int
    headline: str
    body: str | None  # its paragraphs joined by blank lines; None: not loaded (reads_body)
    text_hash: str
    sketch: tuple[int, ...]
    feed_sketch: tuple[int, ...] = ()
    words: int | None = None  # None: archived before they were counted
    feed: int | None = None  # the feed whose text it has
    article: Attempts = UNTRIED
    carried: bool = False  # the feed carries it already
    guid: str | None = None  # the GUID the feed gave it, if any


_Current = Text | Known  # a story's text as the call has left it so far


def reads_body(source: ContentSource, words: int | None) -> bool:
    """Whether the decider may read the body of a stored story with article state ``source``
    and ``words``: one with its article's text (a new headline from its feed goes with the
    article's paragraphs) or without a word count (counted from it). Other bodies need not
    be loaded."""
    return source == "article" or words is None


def _body(current: _Current) -> str:
    if current.body is None:
        raise ValueError("the decider needs a body the archive did not load (reads_body)")
    return current.body


@dataclass(frozen=True, slots=True)
class Search:
    """How to look for the stories an entry may be a copy of: those sharing at least
    ``min_shared`` of ``probes`` (the most first, then the oldest; ``limit`` at most); or,
    without probes (a text too short for a sketch), the oldest whose hash is ``text_hash``."""

    probes: tuple[int, ...]
    text_hash: str
    min_shared: int = MIN_SHARED_PROBES
    limit: int = NEAR_CANDIDATES


@dataclass(frozen=True, slots=True)
class Candidate:
    """A story a search found, and how many of the probes it shares (0: same text hash)."""

    seq: int
    shared: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Found:
    """What the archive looked up for a call, as it was when the call began."""

    keys: Mapping[str, int]  # each of the entries' keys that is known: its story
    stories: Mapping[int, Known]  # every story those, the searches or ``stories`` name
    candidates: Sequence[Sequence[Candidate]]  # per entry: what its search found, in order
    next_seq: int  # the seq of the first story the call adds
    # Keys of the entries whose story retention pruned: such an entry is not stored again.
    pruned: frozenset[str] = frozenset()


# -- intents: what to write ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AddStory:
    """A new story, with the text the call leaves it with (first seen and updated: now)."""

    seq: int
    identity: str  # what its id derives from (``Decision.name``)
    url: str
    published: datetime
    author: str | None
    text: Text
    article: Attempts


@dataclass(frozen=True, slots=True)
class ReplaceText:
    """A stored story takes a new text (updated: now); both sketches are indexed anew."""

    seq: int
    text: Text


@dataclass(frozen=True, slots=True)
class ReplaceFeedSketch:
    """The feed's own text of a story with its article's changed: copies of the new one must
    still find the story. ``sketch`` is the story's own, unchanged: both are indexed."""

    seq: int
    sketch: tuple[int, ...]
    feed_sketch: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SetArticle:
    seq: int
    article: Attempts


@dataclass(frozen=True, slots=True)
class SetWords:
    """The words of a story archived before they were counted: counted once, and kept."""

    seq: int
    words: int


@dataclass(frozen=True, slots=True)
class AddKey:
    """A key of the story that no story has yet (a key keeps its first story)."""

    key: str
    seq: int


@dataclass(frozen=True, slots=True)
class AddSource:
    """The feed carries the story now (``link``: as it gave it)."""

    seq: int
    link: str
    backlog: bool  # old news to the feed: alerts nothing


@dataclass(frozen=True, slots=True)
class MarkToMatch:
    """New and changed stories, and stories a further feed now carries (a topic may be
    limited to that feed), are matched; alerts already made are not made again."""

    seq: int
    news: bool  # some entry brought it as news, not backlog


Update = ReplaceText | ReplaceFeedSketch | SetArticle | SetWords  # of a stored story
Intent = Update | AddStory | AddKey | AddSource | MarkToMatch


@dataclass(frozen=True, kw_only=True, slots=True)
class Naming:
    """The new stories' ids (by seq); or, while ``missing`` is not empty, none yet: which
    ids the archive must say are taken or not first."""

    ids: Mapping[int, str] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """What storing a feed's entries writes, by kind of intent, and what it reports."""

    updates: tuple[Update, ...] = ()
    new: tuple[AddStory, ...] = ()
    keys: tuple[AddKey, ...] = ()
    sources: tuple[AddSource, ...] = ()
    marks: tuple[MarkToMatch, ...] = ()
    changed: tuple[int, ...] = ()  # stories whose text changed, first changed first (new too)
    merged: int = 0  # entries found to be a story another feed brought
    _firsts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        firsts = tuple(story_id(add.identity) for add in self.new)
        object.__setattr__(self, "_firsts", firsts)

    @property
    def intents(self) -> tuple[Intent, ...]:
        """Every intent, in the order the archive writes them."""
        return (*self.updates, *self.new, *self.keys, *self.sources, *self.marks)

    def name(self, taken: Mapping[str, bool]) -> Naming:
        """Ids for the new stories: each its identity's, or the first derived one that no
        story has (``_derived_ids``). ``taken``: the ids asked about so far, and whether a
        story has each."""
        firsts = self._firsts
        missing = frozenset(firsts) - taken.keys()
        if missing:
            return Naming(missing=missing)
        used = dict(taken)
        ids: dict[int, str] = {}
        for add, first in zip(self.new, firsts, strict=True):
            if not used[first]:
                used[first] = True
                ids[add.seq] = first
                continue
            candidates = _derived_ids(add.identity)
            for sid in candidates:
                if sid not in used:  # asked about all at once: a show takes one per episode
                    return Naming(missing=frozenset([sid, *candidates]) - used.keys())
                if not used[sid]:
                    used[sid] = True
                    ids[add.seq] = sid
                    break
            else:
                raise ArchiveError(f"no free story id for {add.identity!r}")
        return Naming(ids=ids)


# -- the decider ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decider:
    """Decides what storing one feed's entries writes, from the values the archive found.

    The same as taking the entries one by one, each seeing what the ones before it did.
    ``stories``: the seq of the story each entry is, when the caller knows it (an article
    retry). ``backlog``: one flag per entry (none: no entry is), old news to the feed.
    ``mark``: mark new and changed stories to be matched.
    """

    feed: int
    entries: Sequence[Entry]
    now: datetime
    stories: Sequence[int] | None = None
    backlog: Sequence[bool] = ()
    mark: bool = False
    keys_by_entry: tuple[tuple[str, ...], ...] = field(init=False, repr=False)
    # Each entry's indexed hashes, once asked for: the search, the decision and a new story
    # need the same.
    _probes: dict[int, frozenset[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = tuple(entry_keys(entry, self.feed) for entry in self.entries)
        object.__setattr__(self, "keys_by_entry", keys)
        object.__setattr__(self, "_probes", {})

    def probes(self, n: int) -> frozenset[int]:
        """The indexed hashes of entry ``n``: of its text, and of its feed's (an article's)."""
        found = self._probes.get(n)
        if found is None:
            entry = self.entries[n]
            found = self._probes[n] = probes(entry.sketch, entry.feed_sketch)
        return found

    def keys(self) -> set[str]:
        """Every key of the entries: the archive finds the story of each that is known."""
        return {key for keys in self.keys_by_entry for key in keys}

    def searches(self, known: Mapping[str, int]) -> list[Search | None]:
        """Per entry: how to look for the stories it may be a copy of; None when no search
        can be needed (its keys place it, or its text is too short to be found by)."""
        if self.stories is not None:
            return [None] * len(self.entries)
        return [self._search(n, known) for n in range(len(self.entries))]

    def _search(self, n: int, known: Mapping[str, int]) -> Search | None:
        entry = self.entries[n]
        if entry.guid:
            if f"guid:{self.feed}:{entry.guid}" in known:
                return None  # its own GUID names its story
        elif any(key in known for key in self.keys_by_entry[n]):
            return None  # found by its URL: without a GUID, nothing tells it apart
        if entry.sketch:
            # An entry with its article's text is also found by the feed's own text.
            return Search(tuple(sorted(self.probes(n))), entry.text_hash)
        if _spaced_words(entry) < MIN_TOKENS_FOR_TEXT_MATCH:
            return None
        return Search((), entry.text_hash)

    def stories_to_load(
        self, known: Mapping[str, int], candidates: Sequence[Sequence[Candidate]]
    ) -> set[int]:
        """The stored stories the decision may read or change."""
        seqs = set(known.values()) | set(self.stories or ())
        seqs.update(c.seq for found in candidates for c in found)
        return seqs

    def decide(self, found: Found) -> Decision:
        """What storing the entries writes, given what the archive found for them."""
        if len(found.candidates) != len(self.entries):
            raise ValueError("found.candidates needs one sequence per entry")
        return _Call(self, found).run()


def _spaced_words(entry: Entry) -> int:
    return len(" ".join([entry.headline, *entry.paragraphs]).split())


def _any_near(ours: Sequence[Sequence[int]], theirs: Sequence[Sequence[int]]) -> bool:
    return any(a and b and is_near_duplicate(a, b) for a in ours for b in theirs)


def _from_entry(entry: Entry, headline: str, feed: int, feed_sketch: tuple[int, ...]) -> Text:
    return Text(
        headline=headline,
        paragraphs=tuple(entry.paragraphs),
        text_hash=entry.text_hash,
        sketch=entry.sketch,
        feed_sketch=feed_sketch,
        words=entry.words,
        feed=feed,
    )


def _fingerprinted(
    headline: str, paragraphs: tuple[str, ...], feed: int, feed_sketch: tuple[int, ...]
) -> Text:
    found = fingerprint(headline, paragraphs)
    return Text(
        headline=headline,
        paragraphs=paragraphs,
        text_hash=found.text_hash,
        sketch=found.sketch,
        feed_sketch=feed_sketch,
        words=found.words,
        feed=feed,
    )


def _new_text(
    state: Attempts, entry: Entry, current: _Current, *, feed: int, words: Callable[[], int]
) -> Text | None:
    """The story's text once ``entry`` (of ``feed``) is taken in; None: as is.

    Of its feeds' texts, a story has the fullest: the text of the feed that gave it replaces
    it, edits and corrections included, and another feed's replaces it when it has more
    words (``words()``: the current text's), so every word a feed carries reaches the
    archive and the matcher, and two feeds' versions never take turns. An article's body
    replaces the feed's body (under the story's headline; the feed's sketch is kept to find
    copies by); a story with its article's body keeps it when a feed brings its own text
    again, taking only a changed headline from its supplier; a failed attempt changes
    nothing. ``state``: the article state before the entry.
    """
    supplier = current.feed == feed
    if entry.article_failure is not None:
        return None
    if entry.content_source == "article":
        if state.source == "article":
            return None  # the page was read already (a retry claimed twice)
        if current.headline == entry.headline:
            text = _from_entry(entry, current.headline, feed, current.sketch)
        else:
            text = _fingerprinted(current.headline, entry.paragraphs, feed, current.sketch)
    elif state.source == "article":
        if current.headline == entry.headline or not supplier:
            return None
        paragraphs = tuple(p for p in _body(current).split("\n\n") if p)
        text = _fingerprinted(entry.headline, paragraphs, feed, current.feed_sketch)
    else:
        if entry.text_hash == current.text_hash:
            return None
        if not supplier and entry.words <= words():
            return None
        text = _from_entry(entry, entry.headline, feed, current.feed_sketch)
    return None if text.text_hash == current.text_hash else text


def _feed_text_of_article_story(state: Attempts, entry: Entry) -> bool:
    """The entry is its feed's own text, for a story that has its article's."""
    return (
        state.source == "article"
        and entry.content_source == "feed"
        and entry.article_failure is None
        and bool(entry.sketch)
    )


@dataclass(slots=True)
class _Draft:
    """A story as the call has left it so far: the decider's scratch copy."""

    seq: int
    text: _Current
    article: Attempts
    carried: bool
    guid: str | None  # the GUID the feed gave it: the first of this call's, else the stored one
    known: Known | None  # as stored; None: new in this call
    probes: frozenset[int] | None = None  # as in the call's own index; None: not in it
    guid_given: bool = False  # this call gave it a GUID of the feed


class _Call:
    """One run of the decider over a call's entries, in order."""

    def __init__(self, decider: Decider, found: Found) -> None:
        self.decider = decider
        self.feed = decider.feed
        self.now = decider.now
        self.found = found
        self.keys = dict(found.keys)  # the stored ones, then those this call adds
        self.drafts: dict[int, _Draft] = {}  # every story an entry was, in that order
        self.new: dict[int, Entry] = {}  # the stories the call adds: the entry of each
        self.next_seq = found.next_seq
        # The stories this call adds, and the stored ones whose indexed hashes it changed,
        # by indexed hash: the archive's look-ups could not find them as they are now.
        self.index: defaultdict[int, set[int]] = defaultdict(set)
        self.moved: set[int] = set()  # those stored ones
        self.added_keys: list[AddKey] = []
        self.sources: list[AddSource] = []
        self.marks: dict[int, bool] = {}
        self.changed: dict[int, None] = {}
        self.merged = 0

    def run(self) -> Decision:
        decider = self.decider
        for n, entry in enumerate(decider.entries):
            old_news = bool(decider.backlog) and decider.backlog[n]
            seq = decider.stories[n] if decider.stories is not None else self._story_of(n, entry)
            if seq is None and self._pruned(n):
                continue  # archived long ago and pruned: old news, not a new story
            self._take(n, entry, seq, old_news)
        drafts = self.drafts.values()
        return Decision(
            updates=tuple(u for d in drafts if d.known is not None for u in _updates(d, d.known)),
            new=tuple(self._new_story(d) for d in drafts if d.known is None),
            keys=tuple(self.added_keys),
            sources=tuple(self.sources),
            marks=tuple(MarkToMatch(seq, news) for seq, news in self.marks.items()),
            changed=tuple(self.changed),
            merged=self.merged,
        )

    def _take(self, n: int, entry: Entry, seq: int | None, old_news: bool) -> None:
        rematch = False
        if seq is None:
            draft = self._add(n, entry)
        else:
            draft = self._draft(seq)
            own = draft.carried
            # The story takes the entry's text when it is its own feed's, when it is fuller,
            # and when it is an article read for it here (whichever feed stored it first,
            # it gets the page): see _new_text.
            rematch = self._update(draft, entry)
            if rematch:
                self.changed.setdefault(draft.seq)
            if not own:
                self.merged += 1
        for key in self.decider.keys_by_entry[n]:
            if key not in self.keys:  # a key keeps its first story
                self.keys[key] = draft.seq
                self.added_keys.append(AddKey(key, draft.seq))
        if entry.guid and not draft.guid_given:
            draft.guid, draft.guid_given = entry.guid, True
        added_source = not draft.carried
        if added_source:
            draft.carried = True
            self.sources.append(AddSource(draft.seq, entry.link, old_news))
        if self.decider.mark and (rematch or added_source):
            self.marks[draft.seq] = self.marks.get(draft.seq, False) or not old_news

    # -- which story an entry is --------------------------------------------------------

    def _pruned(self, n: int) -> bool:
        pruned = self.found.pruned
        return bool(pruned) and any(key in pruned for key in self.decider.keys_by_entry[n])

    def _story_of(self, n: int, entry: Entry) -> int | None:
        """The story the entry is, if it is one already: by its keys, else by its text.

        A story the feed gave another GUID is another item when the entry shares only its
        URL (a podcast's episodes all linking the show's page, fragments of one page in a
        weblog) or only near-identical text (a series of posts sharing most of their text):
        the entry must not disappear into it. Its URL and its text both the same, it is that
        item under a new GUID (a feed that moved its GUIDs).
        """
        keys = self.decider.keys_by_entry[n]
        seq = next((self.keys[k] for k in keys if k in self.keys), None)
        if (
            seq is not None
            and f"guid:{self.feed}:{entry.guid}" not in self.keys
            and self._other_guid(seq, entry)
            and not self._same_text(seq, entry)
        ):
            seq = None
        if seq is None:
            seq = self._near_duplicate(n, entry)
        return seq

    def _text(self, seq: int) -> _Current:
        draft = self.drafts.get(seq)
        return draft.text if draft is not None else self.found.stories[seq]

    def _other_guid(self, seq: int, entry: Entry) -> bool:
        """Whether the feed gave the story a GUID, and not the entry's."""
        if not entry.guid:
            return False
        draft = self.drafts.get(seq)
        given = draft.guid if draft is not None else self.found.stories[seq].guid
        return given not in (None, entry.guid)

    def _same_text(self, seq: int, entry: Entry) -> bool:
        """Whether the story's text is (nearly) the entry's."""
        text = self._text(seq)
        if text.text_hash == entry.text_hash:
            return True
        ours = [entry.sketch, entry.feed_sketch]
        return bool(entry.sketch) and _any_near(ours, (text.sketch, text.feed_sketch))

    def _near_duplicate(self, n: int, entry: Entry) -> int | None:
        """The story whose text is (nearly) the entry's, if any: of those sharing the most
        indexed hashes, the earliest the feed did not give another GUID (another item)."""
        if entry.sketch:
            shared = self._shared(self.decider.probes(n))
            if not shared and not self.found.candidates[n]:
                return None
            # A story with an article's text is also recognised by the text its feed gave.
            sketches = [x for x in (entry.sketch, entry.feed_sketch) if x]
            # The stored stories first, as the archive found them or as this call left them;
            # then the ones it adds.
            for seqs in (self._stored_near(n, shared), self._new_near(shared)):
                for seq in seqs:
                    text = self._text(seq)
                    near = _any_near(sketches, (text.sketch, text.feed_sketch))
                    if near and not self._other_guid(seq, entry):
                        return seq
            return None
        if _spaced_words(entry) < MIN_TOKENS_FOR_TEXT_MATCH:
            return None
        same = [c.seq for c in self.found.candidates[n] if c.seq not in self.drafts]
        same += [s for s in self.drafts if self._text(s).text_hash == entry.text_hash]
        return min(same, default=None)

    def _shared(self, wanted: frozenset[int]) -> dict[int, int]:
        """How many of ``wanted`` each story in the call's own index shares."""
        shared: dict[int, int] = {}
        for h in wanted:
            for seq in self.index.get(h, ()):
                shared[seq] = shared.get(seq, 0) + 1
        return shared

    def _stored_near(self, n: int, shared: dict[int, int]) -> list[int]:
        ranked = [(c.shared, c.seq) for c in self.found.candidates[n] if c.seq not in self.moved]
        if self.moved:
            ranked += [(k, s) for s, k in shared.items() if s in self.moved]
            ranked = sorted(
                (c for c in ranked if c[0] >= MIN_SHARED_PROBES), key=lambda c: (-c[0], c[1])
            )
        return [seq for _, seq in ranked[:NEAR_CANDIDATES]]

    def _new_near(self, shared: dict[int, int]) -> list[int]:
        close = [(k, s) for s, k in shared.items() if k >= MIN_SHARED_PROBES and s in self.new]
        close.sort(key=lambda c: (-c[0], c[1]))
        return [seq for _, seq in close[:NEAR_CANDIDATES]]

    # -- what an entry changes ------------------------------------------------------------

    def _draft(self, seq: int) -> _Draft:
        draft = self.drafts.get(seq)
        if draft is None:
            known = self.found.stories[seq]
            draft = _Draft(
                seq=seq,
                text=known,
                article=known.article,
                carried=known.carried,
                guid=known.guid,
                known=known,
            )
            self.drafts[seq] = draft
        return draft

    def _add(self, n: int, entry: Entry) -> _Draft:
        seq = self.next_seq
        self.next_seq += 1
        text = _from_entry(entry, entry.headline, self.feed, entry.feed_sketch)
        draft = _Draft(
            seq=seq,
            text=text,
            article=UNTRIED.after(entry, self.now),
            carried=False,
            guid=None,
            known=None,
        )
        self.drafts[seq] = draft
        self.new[seq] = entry
        self._index(draft, self.decider.probes(n))
        return draft

    def _update(self, draft: _Draft, entry: Entry) -> bool:
        """Take the entry's text and article attempt into the story; whether its text changed."""
        state, draft.article = draft.article, draft.article.after(entry, self.now)
        text = before = draft.text
        if (
            text.feed == self.feed
            and _feed_text_of_article_story(state, entry)
            and text.feed_sketch != entry.sketch
        ):
            # The feed's summary changed: copies of the new one must still find the story.
            draft.text = text = replace(text, feed_sketch=entry.sketch)
        new = _new_text(state, entry, text, feed=self.feed, words=lambda: self._words(draft))
        if new is not None:
            draft.text = new
        self._moved(draft, before)
        return new is not None

    def _words(self, draft: _Draft) -> int:
        words = draft.text.words
        if words is None:  # archived before they were counted: counted once, and kept
            words = fingerprint(draft.text.headline, [_body(draft.text)]).words  # a Known's
            draft.text = replace(draft.text, words=words)
        return words

    def _moved(self, draft: _Draft, before: _Current) -> None:
        """Index the draft anew when its text changed its indexed hashes."""
        text = draft.text
        if text is before or (
            text.sketch == before.sketch and text.feed_sketch == before.feed_sketch
        ):
            return
        now = probes(text.sketch, text.feed_sketch)
        if now != probes(before.sketch, before.feed_sketch):
            self._index(draft, now)

    def _index(self, draft: _Draft, now: frozenset[int]) -> None:
        """Index the draft under the hashes ``now``: a new story, or a stored one moved."""
        for h in draft.probes or ():
            self.index[h].discard(draft.seq)
        for h in now:
            self.index[h].add(draft.seq)
        draft.probes = now
        if draft.known is not None:
            self.moved.add(draft.seq)

    # -- the intents ----------------------------------------------------------------------

    def _new_story(self, draft: _Draft) -> AddStory:
        entry, text = self.new[draft.seq], draft.text
        assert isinstance(text, Text), "a new story's texts are its entries'"
        return AddStory(
            seq=draft.seq,
            identity=identity(entry, self.feed),
            url=entry.url or entry.link,
            published=entry.published or self.now,
            author=entry.author,
            text=text,
            article=draft.article,
        )


def _updates(draft: _Draft, known: Known) -> Iterator[Update]:
    """What writes a stored story as the call left it."""
    text = draft.text
    if draft.article is not known.article and draft.article != known.article:
        yield SetArticle(draft.seq, draft.article)
    if text is known:
        return
    if isinstance(text, Text):  # a new text (a stored one stays a Known as it changes)
        yield ReplaceText(draft.seq, text)
        return
    if text.feed_sketch != known.feed_sketch:
        yield ReplaceFeedSketch(draft.seq, text.sketch, text.feed_sketch)
    if text.words is not None and text.words != known.words:
        yield SetWords(draft.seq, text.words)
