from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.rules.engine import RuleSet, anchors
from monitor.rules.files import ParsedTopic
from monitor.rules.matcher import Document
from monitor.rules.parser import parse_query
from monitor.types import Topic

WORDS = ["china", "talks", "human", "rights", "trade", "resume", "mfn", "the", "us", "plan"]


def rule_set(*queries: str) -> RuleSet:
    return RuleSet.build(
        ParsedTopic(topic=Topic(name=f"t{i}", query=q), query=parse_query(q), exclude=None)
        for i, q in enumerate(queries)
    )


def test_anchors_pick_a_required_term() -> None:
    assert anchors(parse_query('"human rights" AND the')) == {(False, "rights")}
    assert anchors(parse_query("a OR negotiat*")) == {(False, "a"), (True, "negotiat")}
    assert anchors(parse_query("NOT sport")) is None
    assert anchors(parse_query("china OR NOT sport")) is None
    assert anchors(parse_query("china NOT sport")) == {(False, "china")}


def test_pure_negations_are_always_candidates() -> None:
    rules = rule_set("NOT sport", "china")
    assert [m.topic for m in rules.match(Document.of("Talks", "resume"))] == ["t0"]
    assert [m.topic for m in rules.match(Document.of("Sport", "china"))] == ["t1"]


def test_matches_explain_themselves() -> None:
    rules = rule_set('"human rights" NEAR/3 talks AND =US NOT sport')
    doc = Document.of("US and China resume talks", "The talks on human rights resume, the US said.")
    (m,) = rules.match(doc)
    found = {(h.term, h.field, h.span) for h in m.terms}
    assert ("talks", "body", (4, 9)) in found
    assert ("human rights", "body", (13, 25)) in found
    assert ("US", "body", (38, 40)) in found
    assert "human rights" in m.snippet
    assert not rules.match(Document.of("us and China", "The talks on human rights"))  # case


@st.composite
def query(draw: st.DrawFn, depth: int = 2) -> str:
    word = draw(st.sampled_from(WORDS))
    options = [word, word[:2] + "*", f'"{word} {draw(st.sampled_from(WORDS))}"', f"NOT {word}"]
    if depth > 0:
        a, b = draw(query(depth - 1)), draw(query(depth - 1))
        options += [f"({a}) ({b})", f"({a}) OR ({b})", f"({a}) NOT ({b})", f"title:({a})"]
        options += [f"{word} NEAR/2 {draw(st.sampled_from(WORDS))}"]
    return draw(st.sampled_from(options))


text = st.lists(st.sampled_from([*WORDS, "x", "y"]), max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(query(), min_size=1, max_size=12), st.lists(st.tuples(text, text), max_size=5))
def test_presearch_finds_exactly_what_evaluating_every_topic_finds(
    queries: list[str], docs: list[tuple[str, str]]
) -> None:
    rules = rule_set(*queries)
    for title, body in docs:
        doc = Document.of(title, body)
        assert [m.topic for m in rules.match(doc, explain_matches=False)] == rules.match_all(doc)


def test_document_frequencies_choose_the_rarest_anchor() -> None:
    topic = Topic(name="t", query="zebra AND elephant")
    parsed = [ParsedTopic(topic=topic, query=parse_query(topic.query), exclude=None)]
    by_length = RuleSet.build(parsed)
    by_frequency = RuleSet.build(parsed, frequency={"zebra": 2, "elephant": 900})
    assert by_length.topics[0].anchors == {(False, "elephant")}
    assert by_frequency.topics[0].anchors == {(False, "zebra")}
    doc = Document.of("A zebra and an elephant", "")
    assert [m.topic for m in by_frequency.match(doc)] == by_frequency.match_all(doc) == ["t"]
