"""The config schema: keys declared on dataclass fields, read from them, documented."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monitor.config import LIMITS, TABLES
from monitor.config.schema import Checker, read, required, schema, setting
from monitor.config.values import Bounded, Count, string
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True, slots=True)
class Example:
    name: str  # no setting: not a key
    size: int = setting(3, Count(1, 9), "a small number")
    label: str = field(metadata=required(string, "a label", missing="missing (say what)"))


def test_a_schema_lists_the_keys_of_its_fields_in_order() -> None:
    keys = schema(Example)
    assert list(keys) == ["size", "label"]
    assert (keys["size"].default, keys["size"].expected) == (3, "a small number")
    assert keys["label"].missing == "missing (say what)"


def test_read_gives_each_value_or_its_default_and_records_every_mistake() -> None:
    c = Checker(Path("x.toml"))
    keys = schema(Example)
    assert read(c, {"label": "a"}, "t", keys, given={"name": "n"}) == {
        "name": "n",
        "size": 3,
        "label": "a",
    }
    assert c.missing({"size": 2}, "t", keys)
    assert read(c, {"size": 12, "label": 5}, "t", keys) == {"size": 3, "label": None}
    with pytest.raises(ConfigError) as info:
        c.check()
    assert str(info.value).splitlines() == [
        "x.toml: t.label: missing (say what)",
        "x.toml: t.size: expected a small number, got 12; at most 9",
        "x.toml: t.label: expected a label, got 5",
    ]


def test_every_default_number_is_within_its_limits() -> None:
    for table, keys in TABLES.items():
        for name, spec in keys.items():
            if isinstance(spec.convert, Bounded) and spec.default is not None:
                assert spec.convert(spec.default) == spec.default, f"{table}.{name}"


def test_a_limit_shared_by_several_tables_is_the_same_in_each() -> None:
    # LIMITS has one "notifiers.timeout" for the email and webhook timeouts.
    for table, keys in TABLES.items():
        for name, spec in keys.items():
            if isinstance(spec.convert, Bounded):
                limit = LIMITS[f"{table.split('.')[0]}.{name}"]
                assert (spec.convert.least, spec.convert.most) == limit, f"{table}.{name}"


def _part(text: str, heading: str) -> str:
    """From the line ``heading`` to the next heading of its level, or the end."""
    start = text.index(f"\n{heading}\n") + 1
    end = text.find("\n" + heading.split(" ")[0] + " ", start)
    return text[start : end if end >= 0 else len(text)]


def _doc_section(docs: str, table: str) -> str:
    """The part of docs/config.md about ``table``; for a notifier type, the part of
    [notifiers.NAME] about it."""
    top, _, kind = table.partition(".")
    heading = {"feeds": "## `[[feeds]]`", "notifiers": "## `[notifiers.NAME]`"}
    text = _part(docs, heading.get(top, f"## `[{top}]`"))
    return _part(text, f'### `type = "{kind}"`') if kind else text


def test_every_key_is_documented_in_its_table() -> None:
    docs = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    undocumented = [
        f"{table}.{name}"
        for table, keys in TABLES.items()
        for name in keys
        if not re.search(rf"^\| `{name}` \|", _doc_section(docs, table), re.M)
    ]
    assert undocumented == []
