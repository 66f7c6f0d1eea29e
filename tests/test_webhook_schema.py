"""The JSON v1 webhook body against its documented schema (docs/webhook.schema.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError

from monitor.notify.message import AlertItem, Message
from monitor.notify.payload import encode, json_payload
from monitor.notify.render import render_text
from monitor.types import TermHit

SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "docs" / "webhook.schema.json").read_text("utf-8")
)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# Characters outside the BMP count one code point each (two UTF-16 units, four bytes).
HEADLINE = "🇨🇳 U.S., China to resume human rights talks"
SNIPPET = "😀 Officials said the human rights talks would resume."


def validate(payload: Any) -> None:
    # Through the wire encoding, as a receiver reads it.
    Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        json.loads(encode(payload))
    )


def item(story: str = "s1", **changes: Any) -> AlertItem:
    start = HEADLINE.index("human rights")
    snip = SNIPPET.index("human rights")
    values: dict[str, Any] = {
        "story_id": story,
        "topic": "rights",
        "headline": HEADLINE,
        "url": "https://news.example/1",
        "sources": ("Wire", "Globe"),
        "published": NOW,
        "snippet": SNIPPET,
        "snippet_terms": ((snip, snip + 12),),
        "terms": (
            TermHit(term="human rights", field="title", span=(start, start + 12)),
            TermHit(term="talks", field="body", span=(30, 35)),
        ),
        "why": 'matched "human rights"',
    }
    values.update(changes)
    return AlertItem(**values)


def messages() -> dict[str, Message]:
    both = item(topic="MFN, rights", topics=("MFN", "rights"), why="MFN: x; rights: y")
    return {
        "alert": Message(
            id="a1", kind="alert", topic="rights", topics=("rights",), items=(item(),), created=NOW
        ),
        "alert, two topics": Message(
            id="a2", kind="alert", topic="MFN, rights", topics=("MFN", "rights"), items=(both,),
            created=NOW,
        ),
        "digest": Message(
            id="d1", kind="digest", topic="rights", topics=("rights",),
            items=(item("s1"), item("s2", url="javascript:alert(1)")), omitted=3, created=NOW,
        ),
        "test": Message(id="t1", kind="test", topic="", created=NOW, title="Test", text="a\nb"),
        "health": Message(
            id="h1", kind="health", topic="", created=NOW, title="Feed failing",
            text="Wire: HTTP 500 since 10:00\nlast success 09:00",
        ),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(messages()))
def test_every_kind_of_payload_is_valid(name: str) -> None:
    validate(json_payload(messages()[name]))


def test_the_schema_itself_is_valid_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_refuses_what_is_not_a_payload() -> None:
    good = json_payload(messages()["alert"])
    for bad in (
        {**good, "version": 2},
        {**good, "type": "other"},
        {**good, "extra": 1},
        {**good, "items": []},  # an alert has its story
        {k: v for k, v in good.items() if k != "topics"},
        {**good, "created": "2024-05-01 12:00"},
    ):
        with pytest.raises(ValidationError):
            validate(bad)


def test_text_is_the_plain_text_rendering() -> None:
    payload = json_payload(messages()["alert, two topics"])
    assert payload["text"] == render_text(messages()["alert, two topics"])
    assert HEADLINE in payload["text"] and "<" not in payload["text"]
    assert json_payload(messages()["health"])["text"].splitlines()[1] == "last success 09:00"


def test_spans_count_code_points_of_the_strings_they_name() -> None:
    (got,) = json_payload(messages()["alert"])["items"]
    title = next(t for t in got["terms"] if t["field"] == "title")
    start, end = title["span"]
    assert got["headline"][start:end] == "human rights"
    start, end = got["snippet_spans"][0]
    assert got["snippet"][start:end] == "human rights"
    # Not UTF-16 units: the emoji before it is one code point and two units.
    assert (
        start == SNIPPET.index("human rights")
        and len(SNIPPET[:start].encode("utf-16-le")) > 2 * start
    )


@example(headline="", snippet="", url="", sources=[], topics=["0", "0 "])  # one once cleaned
@settings(max_examples=60, deadline=None)
@given(
    headline=st.text(max_size=300),
    snippet=st.text(max_size=300),
    url=st.text(max_size=50),
    sources=st.lists(st.text(max_size=30), max_size=4),
    topics=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=3, unique=True),
)
def test_any_story_text_gives_a_valid_payload(
    headline: str, snippet: str, url: str, sources: list[str], topics: list[str]
) -> None:
    it = item(
        headline=headline, snippet=snippet, url=url, sources=tuple(sources),
        snippet_terms=((0, len(snippet)),) if snippet else (),
        terms=(TermHit(term="x", field="title", span=(0, len(headline))),) if headline else (),
    )  # fmt: skip
    label = ", ".join(topics)
    for kind in ("alert", "digest"):
        chosen = tuple(topics) if kind == "alert" else tuple(topics[:1])
        msg = Message(
            id="m",
            kind=kind,
            topic=label,
            topics=chosen,
            items=(it,),
            created=NOW,  # type: ignore[arg-type]
        )
        payload = json_payload(msg)
        validate(payload)
        for got in payload["items"]:
            for start, end in got["snippet_spans"]:
                assert 0 <= start < end <= len(got["snippet"])
            for term in got["terms"]:
                start, end = term["span"]
                assert 0 <= start < end <= len(got["headline"])
