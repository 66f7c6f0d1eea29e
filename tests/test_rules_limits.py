"""Rules that would freeze or exhaust the service: refused at FILE:LINE:COL, in linear work.

Alias bombs (fan-out and depth), queries nested past what matching recurses on, NEAR
reaching through aliases, and thousands of errors at once. Every assertion is about
what is reported and how much work it took (parses, nodes built), never about time.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.rules import Document, load_rules, locate, resolve
from monitor.rules import files as rule_files
from monitor.rules.ast import walk
from monitor.rules.resolve import MAX_EXPANDED_DEPTH, MAX_TOPIC_TERMS
from tests.builders import rule_errors, rules_file


def counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count the calls of ``owner.name`` (still calling it)."""
    calls = [0]
    inner: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return inner(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def fan_out(levels: int, joiner: str) -> str:
    """``A0 = '@A1 @A1 @A1 @A1'``, ``A1 = '@A2 ...'``, ...: 4**levels words written out."""
    lines = ["[aliases]"]
    lines += [f"A{i} = '" + joiner.join([f"@A{i + 1}"] * 4) + "'" for i in range(levels)]
    lines += [f"A{levels} = 'x'", "", "[[topic]]", "name = 'bomb'", "query = '@A0'", ""]
    return "\n".join(lines)


@pytest.mark.parametrize("joiner", [" ", " OR "], ids=["AND", "OR"])
def test_an_alias_bomb_is_refused_at_the_alias_past_the_limit_in_linear_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, joiner: str
) -> None:
    path = rules_file(tmp_path, fan_out(13, joiner))  # 4**13: 67 million words written out
    built = counting(monkeypatch, resolve, "_combine")
    errors = rule_errors(tmp_path)
    # A6 is the first alias past 10,000 (4**7 words and the ANDs or ORs joining them);
    # the aliases that use it, and the topic, fail with it without more reports.
    assert errors == [
        f"{path}:8:6: @A6 is too large: 21,845 words and operators once its aliases are "
        f"written out (a topic may have at most {MAX_TOPIC_TERMS:,})"
    ]
    assert built[0] <= 13  # each alias's tree built once, shared by its four uses


def test_a_fan_out_under_the_limit_compiles_to_a_shared_tree_and_matches(tmp_path: Path) -> None:
    rules_file(tmp_path, fan_out(5, " OR "))  # 4**5 = 1,024 words written out
    rules, errors = load_rules(tmp_path)
    assert errors == []
    (topic,) = rules.topics
    # Written out, the tree has 1,365 nodes; in memory, one per alias level and the word.
    assert len(walk(topic.query)) == 1 + 4 + 16 + 64 + 256 + 1024
    assert len({id(n) for n in walk(topic.query)}) == 6
    assert [m.topic for m in rules.match(Document.of("", "x marks the spot"))] == ["bomb"]


def test_an_alias_chain_of_any_length_compiles_without_recursion(tmp_path: Path) -> None:
    # 3,000 aliases each naming the next: the resolver keeps its own stack.
    lines = ["[aliases]"] + [f"A{i} = '@A{i + 1}'" for i in range(3000)] + ["A3000 = 'harbour'"]
    rules_file(tmp_path, "\n".join(lines) + "\n[[topic]]\nname = 't'\nquery = '@A0 closed'\n")
    rules, errors = load_rules(tmp_path)
    assert errors == []
    assert [m.topic for m in rules.match(Document.of("", "the harbour is closed"))] == ["t"]


def test_an_alias_chain_deeper_than_matching_recurses_is_an_error_at_the_alias(
    tmp_path: Path,
) -> None:
    # Each alias adds a level: A0 = '@A1 OR a0', A1 = '@A2 OR a1', ... 400 deep.
    lines = ["[aliases]"] + [f"A{i} = '@A{i + 1} OR a{i}'" for i in range(400)] + ["A400 = 'x'"]
    path = rules_file(tmp_path, "\n".join(lines) + "\n[[topic]]\nname = 't'\nquery = '@A0'\n")
    deepest = 400 - MAX_EXPANDED_DEPTH  # the first alias, from the bottom, past the limit
    assert rule_errors(tmp_path) == [
        f"{path}:{deepest + 2}:{len(f'A{deepest} = ') + 1}: @A{deepest} is nested "
        f"{MAX_EXPANDED_DEPTH + 1} levels deep once its aliases are written out "
        f"(at most {MAX_EXPANDED_DEPTH})"
    ]


def test_a_chain_of_nots_too_deep_is_an_error_at_the_query(tmp_path: Path) -> None:
    # The parser reads "a NOT b NOT c ..." in a loop, into a tree as deep as it is long.
    path = rules_file(tmp_path, "[[topic]]\nname = 't'\nquery = 'a" + " NOT b" * 1000 + "'\n")
    assert rule_errors(tmp_path) == [
        f"{path}:3:9: query: nested 1,001 levels deep, aliases written out "
        f"(at most {MAX_EXPANDED_DEPTH})"
    ]


def test_a_topic_past_the_size_limit_is_an_error_at_its_query(tmp_path: Path) -> None:
    words = " OR ".join(f"w{i}" for i in range(MAX_TOPIC_TERMS // 2))
    path = rules_file(
        tmp_path,
        f"[aliases]\nMANY = '{words}'\n[[topic]]\nname = 't'\nquery = '@MANY AND NOT @MANY'\n",
    )
    (error,) = rule_errors(tmp_path)
    assert error == (
        f"{path}:5:9: query: 10,004 words and operators, aliases written out (a topic may "
        f"have at most {MAX_TOPIC_TERMS:,}, with its exclude)"
    )


def test_the_rule_set_as_a_whole_has_a_limit_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rule_files, "MAX_RULE_SET_TERMS", 100)
    topics = "".join(
        f"[[topic]]\nname = 't{i}'\nquery = '" + " ".join(f"w{i}x{k}" for k in range(29)) + "'\n"
        for i in range(5)
    )
    path = rules_file(tmp_path, topics)  # 30 words and operators a topic: the 4th passes 100
    assert rule_errors(tmp_path) == [
        f"{path}:12:9: the topics up to 't3' come to more than 100 words and operators, "
        "aliases written out: the most all topics together may have"
    ]


@pytest.mark.parametrize(
    ("aliases", "column"),
    [
        ("B = 'x AND y'", 11),  # the alias itself is no set of phrases
        ("B = '@C OR q'\nC = 'x AND y'", 11),  # ... nor is what it takes from another
    ],
    ids=["direct", "through-another-alias"],
)
def test_near_through_an_alias_inside_an_or_is_an_error_not_a_crash(
    tmp_path: Path, aliases: str, column: int
) -> None:
    # docs/rules.md: with NEAR an alias must be words or phrases joined by OR.
    text = f"[aliases]\n{aliases}\n[[topic]]\nname = 't'\nquery = '(@B OR z) NEAR w'\n"
    path = rules_file(tmp_path, text)
    line = text.count("\n")
    assert rule_errors(tmp_path) == [
        f"{path}:{line}:{column}: @B cannot be used with NEAR: it is not made of words or "
        "phrases joined by OR"
    ]


def test_near_through_an_alias_of_phrases_inside_an_or_matches(tmp_path: Path) -> None:
    rules_file(
        tmp_path,
        "[aliases]\nB = '@C OR x'\nC = '\"y z\"'\n[[topic]]\nname = 't'\n"
        "query = '(@B OR q) NEAR/2 w'\n",
    )
    rules, errors = load_rules(tmp_path)
    assert errors == []
    assert [m.topic for m in rules.match(Document.of("", "a y z b w"))] == ["t"]
    assert rules.match(Document.of("", "y z a b c d w")) == []


def test_thousands_of_errors_take_one_parse_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shared alias file renamed away: every topic names an alias that is not there.
    # Each error used to parse its whole file again to find the alias in the query.
    n = 2000
    path = rules_file(
        tmp_path,
        "".join(f"[[topic]]\nname = 't{i}'\nquery = 'w{i} @GONE'\n\n" for i in range(n)),
    )
    aliases = rules_file(
        tmp_path,
        "[aliases]\n" + "".join(f"A{i} = 'x OR @GONE'\n" for i in range(n)),
        "aliases.toml",
    )
    # And a file of keys that mean nothing here, each looked for in the file.
    junk = rules_file(tmp_path, "".join(f"key{i} = {i}\n" for i in range(n)), "junk.toml")
    locate._index.cache_clear()
    parses = counting(monkeypatch, tomllib, "loads")
    indexes = counting(monkeypatch, locate._FileIndex, "of")
    errors = rule_errors(tmp_path)
    assert len(errors) == 3 * n
    assert f"{path}:{4 * n - 1}:16: unknown alias @GONE" in errors
    assert f"{aliases}:{n + 1}:{len(f'A{n - 1} = ') + 7}: unknown alias @GONE" in errors
    assert f"{junk}:{n}:1: unknown table 'key{n - 1}': expected [[topic]] or [aliases]" in errors
    assert parses[0] == 3  # one per file
    assert indexes[0] == 3  # lines, tables and keys found once per file
