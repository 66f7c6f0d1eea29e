from __future__ import annotations

from pathlib import Path

import pytest

from monitor.rules import Document, RuleEngine, load_rules
from monitor.rules.files import RuleError
from monitor.text.pagetext import read_page_text
from tests.builders import rule_errors, rules_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def document(path: Path) -> Document:
    headline, body = read_page_text(path.read_text(encoding="utf-8"))
    return Document.of(headline, "\n\n".join(body))


def topics_of(rules_dir: Path, text: str) -> list[str]:
    rules, errors = load_rules(rules_dir)
    assert errors == []
    return [m.topic for m in rules.match(Document.of("", text))]


@pytest.mark.parametrize("seed", sorted((FIXTURES / "seeds").glob("*.txt")), ids=lambda p: p.name)
def test_shipped_rules_match_both_seeds_for_both_topics(seed: Path) -> None:
    rules, errors = load_rules(ROOT / "rules")
    assert errors == []
    assert [m.topic for m in rules.match(document(seed))] == ["human rights dialogue", "MFN"]


NEGATIVES = sorted((FIXTURES / "negatives").glob("*.txt"))


def test_there_are_at_least_a_dozen_negative_fixtures() -> None:
    assert len(NEGATIVES) >= 12


@pytest.mark.parametrize("story", NEGATIVES, ids=lambda p: p.name)
def test_shipped_rules_match_no_negative_fixture(story: Path) -> None:
    rules, _ = load_rules(ROOT / "rules")
    assert rules.match(document(story)) == []


@pytest.mark.parametrize(
    "text",
    [
        "Congress renewed China's MFN status.",
        "The most-favored-nation clause applies.",
        "It keeps most favoured nation treatment.",
        "A Most-Favoured-Nation tariff.",
        "MOST FAVORED NATION status was renewed.",
    ],
)
def test_mfn_spellings(text: str) -> None:
    assert topics_of(ROOT / "rules", text) == ["MFN"]


def test_query_error_points_into_the_file(tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        '# comment\n\n[[topic]]\nname = "x"\nquery = "china AND (talks OR"\n',
        "a.toml",
    )
    (error,) = rule_errors(tmp_path)
    # Line 5; the value starts at column 10 (after the quote); the error is at its end.
    assert (
        error
        == f'{path}:5:29: expected a word, a "phrase", @alias or (, found the end of the query'
    )


def test_error_positions_in_multiline_and_literal_strings(tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        "[[topic]]\nname = 'ok'\nquery = 'fine'\n\n"
        "[[topic]]\nname = 'bad'\nquery = '''\nchina AND\n  (talks OR) '''\n",
        "b.toml",
    )
    (error,) = rule_errors(tmp_path)
    assert error.startswith(f"{path}:9:12: expected a word")


def test_toml_syntax_error_and_unknown_keys(tmp_path: Path) -> None:
    bad = rules_file(tmp_path, '[[topic]]\nname = "x\nquery = "y"\n', "a.toml")
    other = rules_file(tmp_path, '[[topic]]\nname = "y"\nquery = "y"\ncolour = "red"\n', "b.toml")
    errors = rule_errors(tmp_path)
    assert errors[0].startswith(f"{bad}:2:") and "not valid TOML" in errors[0]
    assert errors[1].startswith(f"{other}:4:1: unknown key 'colour'")


def test_aliases_unknown_duplicate_and_cycles(tmp_path: Path) -> None:
    first = rules_file(
        tmp_path,
        "[aliases]\nA = '@B OR x'\nB = 'y OR @A'\nC = 'z'\n\n"
        "[[topic]]\nname = 't'\nquery = 'talks @NOPE'\n",
        "a.toml",
    )
    second = rules_file(tmp_path, "[aliases]\nC = 'w'\n", "b.toml")
    errors = rule_errors(tmp_path)
    assert f"{first}:3:11: alias cycle: @A -> @B -> @A" in errors
    assert f"{first}:8:16: unknown alias @NOPE" in errors
    assert f"{second}:2:1: alias @C is already defined in {first}" in errors


def test_alias_that_is_not_a_phrase_set_cannot_be_used_with_near(tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        "[aliases]\nBOTH = 'a AND b'\n[[topic]]\nname = 't'\nquery = 'x NEAR @BOTH'\n",
        "a.toml",
    )
    (error,) = rule_errors(tmp_path)
    assert error.startswith(f"{path}:5:17: @BOTH cannot be used with NEAR")


def test_duplicate_topic_names_and_bad_options(tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        "[[topic]]\nname = 't'\nquery = 'a'\n[[topic]]\nname = 't'\nquery = 'b'\n"
        "[[topic]]\nname = 'u'\nquery = 'c'\ndelivery = 'sometimes'\n",
        "a.toml",
    )
    errors = rule_errors(tmp_path)
    assert f"{path}:5:8: topic 't' is already defined in {path}" in errors
    assert any(e.startswith(f"{path}:10:12: delivery: expected") for e in errors)


def test_rule_files_expand_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET", "hunter2")
    rules_file(
        tmp_path, "[[topic]]\nname = '$SECRET'\nquery = '\"${SECRET}\" OR {{SECRET}}'\n", "a.toml"
    )
    rules, errors = load_rules(tmp_path)
    assert errors == []
    topic = rules.topics[0].topic
    assert topic.name == "$SECRET" and "hunter2" not in topic.query
    assert [m.topic for m in rules.match(Document.of("", "the password is hunter2"))] == []
    assert [m.topic for m in rules.match(Document.of("", "a secret"))] == ["$SECRET"]


def test_topic_options(tmp_path: Path) -> None:
    rules_file(
        tmp_path,
        """
        [[topic]]
        name = "titles only"
        query = "china"
        scope = "title"
        exclude = "sport"
        feeds = ["Wire"]
        tags = ["asia"]
        notify = ["desk"]
        delivery = "digest"
        max_per_hour = 5
        """,
        "a.toml",
    )
    rules, errors = load_rules(tmp_path)
    assert errors == []
    topic = rules.topics[0].topic
    assert (topic.scope, topic.notify, topic.digest, topic.max_per_hour) == (
        "title",
        ("desk",),
        "daily 08:00",
        5,
    )

    def names(title: str, body: str, feeds: list[str], tags: list[str]) -> list[str]:
        doc = Document.of(title, body, feeds=feeds, tags=tags)
        return [m.topic for m in rules.match(doc)]

    assert names("China talks", "", ["Wire"], ["asia"]) == ["titles only"]
    assert names("Talks", "China", ["Wire"], ["asia"]) == []  # body is out of scope
    assert names("China sport", "", ["Wire"], ["asia"]) == []  # excluded
    assert names("China", "", ["Other"], ["asia"]) == []  # feed filter
    assert names("China", "", ["Wire"], ["europe"]) == []  # tag filter


def test_reload_is_atomic_and_idempotent(tmp_path: Path) -> None:
    path = rules_file(tmp_path, "[[topic]]\nname = 't'\nquery = 'china'\n", "a.toml")
    engine = RuleEngine(tmp_path)
    assert engine.reload() is True
    active = engine.rules
    assert engine.reload() is False and engine.rules is active  # unchanged: nothing changes

    path.write_text("[[topic]]\nname = 't'\nquery = 'china AND (", encoding="utf-8")  # half saved
    assert engine.reload() is False
    assert engine.rules is active and len(engine.errors) == 1
    assert isinstance(engine.errors[0], RuleError)

    path.write_text("[[topic]]\nname = 't2'\nquery = 'talks'\n", encoding="utf-8")
    assert engine.reload() is True
    assert [t.topic.name for t in engine.rules.topics] == ["t2"] and engine.errors == []


def test_a_duplicate_topic_is_reported_where_it_was_added_not_at_the_one_in_use(
    tmp_path: Path,
) -> None:
    running = rules_file(tmp_path, "[[topic]]\nname = 't'\nquery = 'talks'\n", "b.toml")
    engine = RuleEngine(tmp_path)
    assert engine.reload() and engine.errors == []
    # a.toml sorts first, but the topic in use is b.toml's: the new one is the duplicate.
    added = rules_file(
        tmp_path,
        "[[topic]]\nname = 'u'\nquery = 'x'\n\n[[topic]]\nname = 't'\nquery = 'other'\n",
        "a.toml",
    )
    assert not engine.reload()
    assert [str(e) for e in engine.errors] == [
        f"{added}:6:8: topic 't' is already defined in {running}"
    ]
    assert [t.topic.query for t in engine.rules.topics] == ["talks"]
    # Without a running set (rules check), the later one in file order is reported.
    assert rule_errors(tmp_path) == [f"{running}:2:8: topic 't' is already defined in {added}"]


@pytest.mark.parametrize(
    ("digest", "column", "reason"),
    [
        ("'daily 8am'", 10, 'expected a schedule like "hourly", "daily 08:00"'),
        ("'daily 25:00'", 10, "expected a time of day like 08:00"),
        ("'every 10s'", 10, "digests at most every minute"),
        ("8", 10, "expected a schedule like"),
    ],
)
def test_a_digest_schedule_that_cannot_be_read_is_an_error(
    tmp_path: Path, digest: str, column: int, reason: str
) -> None:
    path = rules_file(
        tmp_path,
        f"[[topic]]\nname = 't'\nquery = 'a'\ndelivery = 'digest'\ndigest = {digest}\n",
        "a.toml",
    )
    rules, errors = load_rules(tmp_path)
    (error,) = [str(e) for e in errors]
    assert error.startswith(f"{path}:5:{column}: digest: {reason}")
    assert rules.topics == ()  # the topic is refused, not run with a broken schedule


def test_readable_digest_schedules(tmp_path: Path) -> None:
    rules_file(
        tmp_path,
        "".join(
            f"[[topic]]\nname = '{n}'\nquery = 'a'\ndelivery = 'digest'\ndigest = '{d}'\n"
            for n, d in enumerate(["hourly", "daily 08:00", "weekly mon 09:30", "every 30m"])
        ),
        "a.toml",
    )
    assert rule_errors(tmp_path) == []


def test_an_empty_notify_list_sends_nowhere_and_is_an_error(tmp_path: Path) -> None:
    path = rules_file(tmp_path, "[[topic]]\nname = 't'\nquery = 'a'\nnotify = []\n", "a.toml")
    (error,) = rule_errors(tmp_path)
    assert error.startswith(f"{path}:4:10: notify: an empty list sends alerts nowhere")
