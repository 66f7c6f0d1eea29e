"""Rules against the configuration: every name a topic uses must exist, every alert a way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import Config, ConsoleSettings, load_config
from monitor.rules import RuleEngine, RuleError, check_rules_against_config, load_rules
from monitor.rules.locate import item_position
from monitor.types import Feed

CONFIG = """
[notifiers.desk]
type = "console"

[notifiers.pager]
type = "console"

[[feeds]]
url = "https://wire.example/rss"
name = "Wire"
tags = ["asia", "wire"]

[[feeds]]
url = "https://world.example/rss"
name = "World News"
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def errors_for(tmp_path: Path, config: Config, rules_text: str) -> list[RuleError]:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "t.toml").write_text(rules_text, encoding="utf-8")
    rules, compile_errors = load_rules(folder)
    assert compile_errors == []
    return check_rules_against_config(rules, config)


def test_names_the_configuration_has_are_fine(tmp_path: Path, config: Config) -> None:
    text = (
        "[[topic]]\nname = 'a'\nquery = 'x'\nnotify = ['desk', 'pager']\n"
        "feeds = ['Wire', 'https://world.example/rss']\ntags = ['asia']\n"
        "[[topic]]\nname = 'b'\nquery = 'y'\n"
    )
    assert errors_for(tmp_path, config, text) == []


def test_an_unknown_notifier_is_located_at_its_name(tmp_path: Path, config: Config) -> None:
    text = "[[topic]]\nname = 'a'\nquery = 'x'\n\n[[topic]]\nname = 'b'\nquery = 'y'\n"
    text += "notify = ['desk', 'pagr']\n"
    (error,) = errors_for(tmp_path, config, text)
    assert (error.file, error.line, error.column) == (str(tmp_path / "rules" / "t.toml"), 8, 19)
    assert str(error).startswith(f"{tmp_path / 'rules' / 't.toml'}:8:19: notify: no notifier")
    assert "'pagr'" in error.message and "did you mean 'pager'?" in error.message
    assert "known: desk, pager" in error.message


def test_a_single_name_in_place_of_a_list_is_located_too(tmp_path: Path, config: Config) -> None:
    (error,) = errors_for(tmp_path, config, "[[topic]]\nname='a'\nquery='x'\nnotify = \"nobody\"\n")
    assert (error.line, error.column) == (4, 10)


def test_feeds_and_tags_that_no_feed_has(tmp_path: Path, config: Config) -> None:
    text = (
        "[[topic]]\nname = 'a'\nquery = 'x'\n"
        "feeds = [\n  'Wire',   # the wire\n  'Word News',\n]\ntags = ['europe']\n"
    )
    feeds, tags = errors_for(tmp_path, config, text)
    assert (feeds.line, feeds.column) == (6, 3)
    assert "no feed has the name or URL 'Word News'" in feeds.message
    assert "did you mean 'World News'?" in feeds.message
    assert (tags.line, tags.column) == (8, 9)
    assert "has the tag 'europe'" in tags.message and "known: asia, wire" in tags.message


def test_topics_but_no_notifier_at_all_is_one_error(tmp_path: Path, config: Config) -> None:
    bare = Config(path=config.path, archive_url=config.archive_url, rules_path=tmp_path)
    text = (
        "[[topic]]\nname = 'a'\nquery = 'x'\nnotify = ['desk']\n\n"
        "[[topic]]\nname = 'b'\nquery = 'y'\n\n[[topic]]\nname = 'c'\nquery = 'z'\n"
    )
    notify, nowhere = errors_for(tmp_path, bare, text)
    assert "no notifier named 'desk'" in notify.message and "no notifiers are configured" in (
        notify.message
    )
    assert (nowhere.line, nowhere.column) == (6, 1)
    assert "topic 'b' (and 1 more topics): alerts go to every notifier" in nowhere.message
    assert "configures none" in nowhere.message


def test_no_topics_need_no_notifier(tmp_path: Path, config: Config) -> None:
    bare = Config(path=config.path, archive_url=config.archive_url, rules_path=tmp_path)
    assert errors_for(tmp_path, bare, "[aliases]\nX = 'x'\n") == []


def test_topics_built_in_code_are_located_by_their_source(config: Config) -> None:
    from monitor.rules import RuleSet
    from monitor.rules.files import ParsedTopic
    from monitor.rules.parser import parse_query
    from monitor.types import Topic

    topic = Topic(name="t", query="x", notify=("nobody",), source="made.toml", line=3)
    rules = RuleSet.build([ParsedTopic(topic=topic, query=parse_query("x"), exclude=None)])
    (error,) = check_rules_against_config(rules, config)
    assert str(error).startswith("made.toml:3:1: notify: no notifier named 'nobody'")


def test_reload_with_a_check_refuses_and_keeps_the_running_rules(
    tmp_path: Path, config: Config
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "t.toml").write_text("[[topic]]\nname='a'\nquery='x'\nnotify=['desk']\n", "utf-8")
    engine = RuleEngine(folder)

    def check(rules):  # type: ignore[no-untyped-def]
        return check_rules_against_config(rules, config)

    assert engine.reload(check) and engine.errors == []
    (folder / "t.toml").write_text("[[topic]]\nname='b'\nquery='y'\nnotify=['nobody']\n", "utf-8")
    assert not engine.reload(check)
    assert [t.topic.name for t in engine.rules.topics] == ["a"]
    assert "no notifier named 'nobody'" in str(engine.errors[0])
    # Back to the running rules: nothing changes, and nothing is wrong.
    (folder / "t.toml").write_text("[[topic]]\nname='a'\nquery='x'\nnotify=['desk']\n", "utf-8")
    assert not engine.reload(check) and engine.errors == []
    # Unchanged files are checked again: the configuration may be what changed.
    smaller = Config(
        path=config.path,
        archive_url=config.archive_url,
        rules_path=folder,
        notifiers={"pager": ConsoleSettings(name="pager")},
        feeds=(Feed(url="https://wire.example/rss", name="Wire"),),
    )
    assert not engine.reload(lambda rules: check_rules_against_config(rules, smaller))
    assert "no notifier named 'desk'" in str(engine.errors[0])
    assert [t.topic.name for t in engine.rules.topics] == ["a"]


@pytest.mark.parametrize(
    ("text", "item", "where"),
    [
        ("[[topic]]\nk = ['a', 'b']\n", 1, (2, 11)),
        ('[[topic]]\nk = ["""a""", "b"]\n', 1, (2, 15)),
        ("[[topic]]\nk = [\n  # 'x',\n  'a',\n  'b'\n]\n", 1, (5, 3)),
        ("[[topic]]\nk = 'a'\n", 0, (2, 5)),
        ("[[topic]]\nk = ['a']\n", 3, (2, 5)),  # no such item: the value
        ("[[topic]]\nother = 1\n", 0, (1, 1)),  # no such key: the table
    ],
)
def test_item_position(text: str, item: int, where: tuple[int, int]) -> None:
    assert item_position(text, "topic", 0, "k", item) == where
