"""The dedupe decider on plain values: no archive, no database, no clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.dedupe import (
    ARTICLE_RETRY_DELAYS,
    AddKey,
    AddSource,
    AddStory,
    Attempts,
    Candidate,
    Decider,
    Decision,
    Found,
    Known,
    MarkToMatch,
    ReplaceFeedSketch,
    ReplaceText,
    Search,
    SetArticle,
    SetWords,
    Text,
    identity,
    reads_body,
)
from monitor.errors import ArchiveError
from monitor.text.fingerprint import fingerprint, probes
from monitor.types import ArticleFailure, ContentSource, Entry
from monitor.urls import story_id

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEED, OTHER = 1, 2
WIRE = (
    "Washington and Beijing plan to resume discussions about human rights, one of the biggest "
    "sticking points in relations between the two powerful nations, officials said on Tuesday."
)
EDITED = WIRE.replace("powerful", "mighty")  # a copy edited: as many words
LOCAL = (
    "The city council voted on Wednesday to build a tram line linking the harbour to the "
    "northern suburbs, with construction expected to start next spring and last three years."
)
FULL = f"{WIRE} The dialogue had been suspended for two years over trade and visas."
SHORT = "Talks resume in Beijing."  # too short for a sketch
TWELVE = "One two three four five six seven eight nine ten eleven twelve."  # no sketch either
BUSY = ArticleFailure(reason="HTTP 503", retry=True)


def entry(
    body: str = WIRE,
    *,
    url: str = "https://n.example/talks",
    guid: str | None = None,
    headline: str = "Talks resume",
    source: ContentSource = "feed",
    feed_text: str | None = None,
    failure: ArticleFailure | None = None,
) -> Entry:
    text = fingerprint(headline, [body])
    return Entry(
        guid=guid,
        url=url,
        link=url or "https://n.example/page",
        headline=headline,
        paragraphs=(body,),
        published=None,
        sketch=text.sketch,
        text_hash=text.text_hash,
        words=text.words,
        content_source=source,
        feed_sketch=fingerprint(headline, [feed_text]).sketch if feed_text else (),
        article_failure=failure,
    )


def text_of(e: Entry, *, feed: int = FEED, feed_sketch: tuple[int, ...] = ()) -> Text:
    return Text(
        headline=e.headline,
        paragraphs=e.paragraphs,
        text_hash=e.text_hash,
        sketch=e.sketch,
        feed_sketch=feed_sketch,
        words=e.words,
        feed=feed,
    )


def known(
    e: Entry, seq: int = 7, *, feed: int = FEED, carried: bool = True, **kwargs: object
) -> Known:
    return Known(
        seq=seq,
        headline=e.headline,
        body="\n\n".join(e.paragraphs),
        text_hash=e.text_hash,
        sketch=e.sketch,
        words=e.words,
        feed=feed,
        carried=carried,
        **kwargs,  # type: ignore[arg-type]
    )


def decide(
    entries: Sequence[Entry],
    *,
    keys: Mapping[str, int] | None = None,
    stored: Sequence[Known] = (),
    found: Mapping[int, Sequence[Candidate]] | None = None,
    feed: int = FEED,
    **options: object,
) -> Decision:
    """The decision, the archive's look-ups given as values: ``stored`` the stories it loads,
    ``found`` what each entry's search finds (by the entry's index), searched or not."""
    decider = Decider(feed, entries, NOW, **options)  # type: ignore[arg-type]
    keys = keys or {}
    searches = decider.searches(keys)
    found = found or {}
    assert all(searches[n] is not None for n in found), "a candidate for an entry not searched"
    candidates = [found.get(n, ()) for n in range(len(entries))]
    assert decider.stories_to_load(keys, candidates) <= {s.seq for s in stored}
    return decider.decide(
        Found(keys=keys, stories={s.seq: s for s in stored}, candidates=candidates, next_seq=10)
    )


def kinds(decision: Decision) -> list[str]:
    return [type(i).__name__ for i in decision.intents]


URL = "url:https://n.example/talks"


# -- which story an entry is ----------------------------------------------------------------


TALKS = "https://n.example/talks"
NEW = "AddStory"  # a new story (seq 10, then 11): its fields are tested below


@pytest.mark.parametrize(
    ("case", "entries", "keys", "stored", "found", "expected", "merged"),
    [
        (
            "same URL again: its story, nothing to write",
            [entry()],
            {URL: 7},
            [known(entry())],
            {},
            [],
            0,
        ),
        (
            "same URL from another feed: a source more",
            [entry()],
            {URL: 7},
            [known(entry(), carried=False, feed=OTHER)],
            {},
            [AddSource(7, TALKS, False)],
            1,
        ),
        (
            "same GUID of the feed under a new URL: its story, which gets the URL too",
            [entry(url="https://n.example/moved", guid="g1")],
            {f"guid:{FEED}:g1": 7},
            [known(entry(), guid="g1")],
            {},
            [AddKey("url:https://n.example/moved", 7)],
            0,
        ),
        (
            "near-duplicate from another feed: a source more, and its URL",
            [entry(EDITED, url="https://wire.example/1")],
            {},
            [known(entry(), carried=False, feed=OTHER)],
            {0: [Candidate(7, 6)]},
            [
                AddKey("url:https://wire.example/1", 7),
                AddSource(7, "https://wire.example/1", False),
            ],
            1,
        ),
        (
            "near-duplicate under another GUID of the own feed: another item",
            [entry(EDITED, url="https://n.example/2", guid="g2")],
            {},
            [known(entry(), guid="g1")],
            {0: [Candidate(7, 6)]},
            [
                NEW,
                AddKey(f"guid:{FEED}:g2", 10),
                AddKey("url:https://n.example/2", 10),
                AddSource(10, "https://n.example/2", False),
            ],
            0,
        ),
        (
            "the own feed's near duplicate, no GUIDs: its story, and its edit",
            [entry(EDITED, url="https://n.example/2")],
            {},
            [known(entry())],
            {0: [Candidate(7, 6)]},
            [ReplaceText(7, text_of(entry(EDITED))), AddKey("url:https://n.example/2", 7)],
            0,
        ),
        (
            "a URL the feed gave another GUID, another text: another item (a show's episodes)",
            [entry(LOCAL, guid="episode-2")],
            {URL: 7},
            [known(entry(), guid="episode-1")],
            {0: []},
            [NEW, AddKey(f"guid:{FEED}:episode-2", 10), AddSource(10, TALKS, False)],
            0,
        ),
        (
            "a URL the feed gave another GUID, the same text: that item (its GUIDs moved)",
            [entry(guid="new")],
            {URL: 7},
            [known(entry(), guid="old")],
            {},
            [AddKey(f"guid:{FEED}:new", 7)],
            0,
        ),
        (
            "a GUID of another feed is not the entry's",
            [entry(LOCAL, url="", guid="1")],
            {f"guid:{OTHER}:1": 7},
            [known(entry(LOCAL, url=""), feed=OTHER, carried=False)],
            {0: []},
            [NEW, AddKey(f"guid:{FEED}:1", 10), AddSource(10, "https://n.example/page", False)],
            0,
        ),
        (
            "a short text of twelve words and more is found by its hash",
            [entry(TWELVE, url="https://other.example/")],
            {},
            [known(entry(TWELVE), carried=False)],
            {0: [Candidate(7)]},
            [
                AddKey("url:https://other.example/", 7),
                AddSource(7, "https://other.example/", False),
            ],
            1,
        ),
        (
            "a shorter one is not",
            [entry(SHORT, url="https://other.example/")],
            {},
            [],
            {},
            [
                NEW,
                AddKey("url:https://other.example/", 10),
                AddSource(10, "https://other.example/", False),
            ],
            0,
        ),
        (
            "a near-duplicate of a story the call adds: that story",
            [entry(), entry(EDITED, url="https://wire.example/1")],
            {},
            [],
            {0: [], 1: []},
            [
                NEW,
                AddKey(URL, 10),
                AddKey("url:https://wire.example/1", 10),
                AddSource(10, TALKS, False),
            ],
            0,
        ),
    ],
)
def test_which_story_an_entry_is(
    case: str,
    entries: list[Entry],
    keys: dict[str, int],
    stored: list[Known],
    found: dict[int, list[Candidate]],
    expected: list[object],
    merged: int,
) -> None:
    decision = decide(entries, keys=keys, stored=stored, found=found)
    got = [NEW if isinstance(i, AddStory) else i for i in decision.intents]
    assert (got, decision.merged) == (expected, merged), case


def test_searches_are_asked_only_where_the_keys_may_not_place_an_entry() -> None:
    entries = [
        entry(guid="g1"),  # its GUID is known
        entry(url="https://n.example/known"),  # no GUID, its URL is known
        entry(url="https://n.example/known", guid="g9"),  # a known URL, an unknown GUID
        entry(LOCAL, url="https://n.example/new"),
        entry(SHORT, url="https://n.example/short"),  # too short to be found by its text
        entry(TWELVE, url="https://n.example/twelve"),
    ]
    keys = {f"guid:{FEED}:g1": 7, "url:https://n.example/known": 7}
    searches = Decider(FEED, entries, NOW).searches(keys)
    local = entries[3]
    assert searches == [
        None,
        None,
        Search(tuple(sorted(probes(entries[2].sketch))), entries[2].text_hash),
        Search(tuple(sorted(probes(local.sketch))), local.text_hash, min_shared=2, limit=32),
        None,
        Search((), entries[5].text_hash),
    ]
    assert Decider(FEED, entries, NOW, stories=[7] * 6).searches(keys) == [None] * 6


def test_a_story_changed_earlier_in_the_call_is_compared_as_it_is_now() -> None:
    # Story 7 takes the full text from its own feed; a copy of the full text comes next,
    # and the archive's look-up (made before the call) could not find 7 by it.
    full = entry(FULL)
    copy = entry(FULL, url="https://wire.example/9")
    decision = decide(
        [full, copy], keys={URL: 7}, stored=[known(entry())], found={1: []}, mark=True
    )
    assert [i for i in decision.intents if isinstance(i, ReplaceText)] == [
        ReplaceText(7, text_of(full))
    ]
    assert decision.new == () and decision.changed == (7,)
    assert AddKey("url:https://wire.example/9", 7) in decision.intents


# -- which text a story keeps ---------------------------------------------------------------

ARTICLE = f"{FULL} Officials expect the first round to last three days in a guest house."
STORED = entry(SHORT + " " + WIRE)


@pytest.mark.parametrize(
    ("case", "story", "new", "feed", "expected"),
    [
        ("the supplier's edit, shorter", known(STORED), entry(WIRE), FEED, "entry"),
        ("another feed's fuller text", known(STORED), entry(FULL), OTHER, "entry"),
        ("another feed's shorter text", known(STORED), entry(WIRE), OTHER, None),
        ("another feed's as long", known(entry(WIRE)), entry(EDITED), OTHER, None),
        ("the same text again", known(STORED), STORED, OTHER, None),
        ("a failed attempt", known(STORED), entry(FULL, failure=BUSY), FEED, None),
    ],
)
def test_which_text_wins(
    case: str, story: Known, new: Entry, feed: int, expected: str | None
) -> None:
    story = replace(story, carried=False)
    decision = decide([new], keys={URL: 7}, stored=[story], feed=feed)
    texts = [i for i in decision.intents if isinstance(i, ReplaceText)]
    assert texts == ([ReplaceText(7, text_of(new, feed=feed))] if expected else []), case
    assert decision.changed == ((7,) if expected else ())


def test_an_article_body_replaces_the_feed_body_under_the_story_headline() -> None:
    stored = known(entry(headline="Talks resume in Beijing"), feed=OTHER)
    page = entry(ARTICLE, headline="Talks resume", source="article", feed_text=WIRE)
    decision = decide([page], keys={URL: 7}, stored=[stored])
    texts = [i for i in decision.intents if isinstance(i, ReplaceText)]
    (replaced,) = texts
    # Whichever feed stored it first, the page read for it here gives its text; the sketch
    # of the feed's text stays, to find copies of it by.
    assert replaced.text.headline == "Talks resume in Beijing"
    assert replaced.text.paragraphs == (ARTICLE,) and replaced.text.feed == FEED
    assert replaced.text.feed_sketch == stored.sketch
    assert replaced.text == replace(
        text_of(entry(ARTICLE, headline="Talks resume in Beijing")),
        feed_sketch=stored.sketch,
    )
    assert SetArticle(7, Attempts(source="article", tries=1)) in decision.intents


READ = Attempts(source="article", tries=1)
PAGE = entry(ARTICLE)
SUMMARY = text_of(entry(WIRE))


@pytest.mark.parametrize(
    ("case", "new", "feed", "expected"),
    [
        ("its feed's summary again", entry(WIRE), FEED, []),
        (
            "its feed's summary changed: kept, and found by",
            entry(EDITED),
            FEED,
            [ReplaceFeedSketch(7, PAGE.sketch, entry(EDITED).sketch)],
        ),
        (
            "its feed's new headline: taken, the article's body kept",
            entry(WIRE, headline="Talks resume on Monday"),
            FEED,
            [
                ReplaceText(
                    7,
                    replace(
                        text_of(entry(ARTICLE, headline="Talks resume on Monday")),
                        feed_sketch=entry(WIRE, headline="Talks resume on Monday").sketch,
                    ),
                )
            ],
        ),
        ("another feed's new headline", entry(FULL, headline="Other"), OTHER, []),
        ("its page read again (a retry claimed twice)", entry(FULL, source="article"), FEED, []),
    ],
)
def test_a_story_with_its_article_keeps_it(
    case: str, new: Entry, feed: int, expected: list[object]
) -> None:
    story = known(PAGE, feed_sketch=SUMMARY.sketch, article=READ)
    decision = decide(
        [new], keys={URL: 7}, stored=[replace(story, carried=feed == FEED)], feed=feed
    )
    writes = [i for i in decision.intents if isinstance(i, ReplaceText | ReplaceFeedSketch)]
    assert writes == expected, case


def test_words_of_an_old_story_are_counted_only_when_compared() -> None:
    old = replace(known(STORED, carried=False), words=None)
    shorter = decide([entry(WIRE)], keys={URL: 7}, stored=[old], feed=OTHER)
    assert [i for i in shorter.intents if isinstance(i, SetWords)] == [SetWords(7, STORED.words)]
    same = decide([STORED], keys={URL: 7}, stored=[old], feed=OTHER)
    assert not [i for i in same.intents if isinstance(i, SetWords)]


def test_bodies_are_read_only_where_reads_body_says() -> None:
    assert reads_body("article", 40) and reads_body("feed", None)
    assert not reads_body("feed", 40)
    # A story with the feed's text and a word count: decided without its body.
    plain = replace(known(STORED, carried=False), body=None)
    page = entry(ARTICLE, source="article", feed_text=WIRE)
    for new, feed in ((entry(WIRE), FEED), (entry(FULL), OTHER), (page, OTHER)):
        assert decide([new], keys={URL: 7}, stored=[plain], feed=feed).changed == (7,)
    with pytest.raises(ValueError, match="reads_body"):
        decide([entry(WIRE)], keys={URL: 7}, stored=[replace(plain, words=None)], feed=OTHER)


# -- story ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e", "expected"),
    [
        (entry(), "https://n.example/talks"),
        (entry(url="", guid="42"), f"guid:{FEED}:42"),
        (entry(url=""), f"text:{entry().text_hash}"),
    ],
)
def test_a_story_id_derives_from_url_else_guid_else_text(e: Entry, expected: str) -> None:
    assert identity(e, FEED) == expected
    decision = decide([e], found={0: []})
    (add,) = decision.new
    naming = decision.name({})
    assert naming.missing == {story_id(expected)}
    assert decision.name({story_id(expected): False}).ids == {add.seq: story_id(expected)}


def test_a_taken_id_gives_the_next_derived_one() -> None:
    # Two episodes of a show, both linking its page, in one call.
    show = "https://podcast.example/show"
    episodes = [entry(body, url=show, guid=str(n)) for n, body in enumerate((WIRE, LOCAL))]
    decision = decide(episodes, found={0: [], 1: []})
    first, derived = story_id(show), [story_id(f"{show}#{n}") for n in range(1, 100)]
    taken = {first: False}
    missing = decision.name(taken).missing
    assert missing == set(derived)  # asked for all at once, not one a round
    taken |= dict.fromkeys(derived, False) | {derived[0]: True}
    assert decision.name(taken).ids == {10: first, 11: derived[1]}
    with pytest.raises(ArchiveError, match="no free story id"):
        decision.name(dict.fromkeys([first, *derived], True))


# -- article attempts ---------------------------------------------------------------------------

D0, D1, D2 = ARTICLE_RETRY_DELAYS


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("case", "before", "failure", "expected"),
    [
        (
            "first attempt fails",
            Attempts(),
            BUSY,
            Attempts(error="HTTP 503", tries=1, retry=at(D0)),
        ),
        (
            "deferred: not a try, tried soon",
            Attempts(),
            ArticleFailure(reason="later", retry=True, counted=False),
            Attempts(error="later", tries=0, retry=at(D0)),
        ),
        ("second", Attempts(tries=1), BUSY, Attempts(error="HTTP 503", tries=2, retry=at(D1))),
        ("third", Attempts(tries=2), BUSY, Attempts(error="HTTP 503", tries=3, retry=at(D2))),
        (
            "after the last delay: given up",
            Attempts(tries=3),
            BUSY,
            Attempts(error="HTTP 503", tries=4),
        ),
        (
            "Retry-After longer than the delay",
            Attempts(),
            replace(BUSY, retry_after=D0 * 2),
            Attempts(error="HTTP 503", tries=1, retry=at(D0 * 2)),
        ),
        (
            "not worth a retry (a 404)",
            Attempts(),
            ArticleFailure(reason="HTTP 404"),
            Attempts(error="HTTP 404", tries=1),
        ),
        (
            "read",
            Attempts(error="HTTP 503", tries=2, retry=at(1)),
            None,
            Attempts(source="article", tries=3),
        ),
        ("a late failure of a read page", READ, BUSY, READ),
        ("no attempt", Attempts(tries=2, error="x"), "feed", Attempts(tries=2, error="x")),
    ],
)
def test_article_attempts_are_counted_and_retried_after_the_delays(
    case: str, before: Attempts, failure: ArticleFailure | str | None, expected: Attempts
) -> None:
    if failure is None:
        new = entry(ARTICLE, source="article")
    elif isinstance(failure, str):
        new = entry(WIRE)
    else:
        new = entry(WIRE, failure=failure)
    assert before.after(new, NOW) == expected, case
    story = known(entry(WIRE), article=before)
    intents = decide([new], keys={URL: 7}, stored=[story]).intents
    assert [i for i in intents if isinstance(i, SetArticle)] == (
        [] if expected == before else [SetArticle(7, expected)]
    ), case


def test_a_new_story_counts_its_first_attempt() -> None:
    (add,) = decide([entry(failure=BUSY)], found={0: []}).new
    assert add.article == Attempts(error="HTTP 503", tries=1, retry=at(D0))
    (add,) = decide([entry(ARTICLE, source="article", feed_text=WIRE)], found={0: []}).new
    assert add.article == Attempts(source="article", tries=1)
    assert add.text.feed_sketch == entry(WIRE).sketch


# -- matching marks and the story as the call leaves it ------------------------------------------


def test_new_and_changed_stories_are_marked_news_unless_every_entry_was_backlog() -> None:
    entries = [entry(), entry(FULL), entry(LOCAL, url="https://n.example/old")]
    decision = decide(entries, found={0: [], 2: []}, mark=True, backlog=[True, False, True])
    (first, second) = decision.new
    assert first.text == text_of(entries[1]) and second.seq == 11  # one story, its last text
    assert decision.changed == (10,)
    assert [i for i in decision.intents if isinstance(i, MarkToMatch)] == [
        MarkToMatch(10, True),
        MarkToMatch(11, False),
    ]
    assert kinds(decide(entries, found={0: [], 2: []})).count("MarkToMatch") == 0


def test_an_entry_of_a_known_story_given_by_the_caller_is_that_story() -> None:
    # An article retry: the caller says which story; its keys and text do not matter.
    page = entry(ARTICLE, url="https://n.example/elsewhere", source="article")
    decision = decide([page], stored=[known(entry(), seq=3)], stories=[3])
    assert isinstance(decision.intents[0], SetArticle) and decision.intents[0].seq == 3
    assert [type(i) for i in decision.intents[1:]] == [ReplaceText, AddKey]
    assert not any(isinstance(i, AddStory) for i in decision.intents)
