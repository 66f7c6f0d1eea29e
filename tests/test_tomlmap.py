"""Finding where each key of a TOML document is written."""

from __future__ import annotations

import json
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from monitor.config.tomlmap import decode_error_position, key_positions, locate, parse_key

DOC = """# a comment [not = a table]
title = "x # not a comment" # comment
[archive]
url = "sqlite:///a"

[[feeds]]
url = "a"
name = \"\"\"multi
line = "not a key"
[not.a.table]\"\"\"\"\"
[[feeds]]
url = 'b'
tags = ["x",
  "y", # c ]
  3]
"quoted key" = 1
[notifiers.desk]
type = "email"
[notifiers]
hook = { type = "webhook", nested = { a = [1, {b = 2}] } }
[fetch]
a.b.c = 1
[[feeds]]
  interval = "soon"
"""


def test_positions_of_tables_keys_and_array_items() -> None:
    tomllib.loads(DOC)  # the document is valid TOML
    positions = key_positions(DOC)
    assert positions[("title",)] == (2, 1)
    assert positions[("archive", "url")] == (4, 1)
    assert positions[("feeds", 0)] == (6, 1)
    assert positions[("feeds", 0, "name")] == (8, 1)
    assert ("not", "a", "table") not in positions and ("line",) not in positions
    assert positions[("feeds", 1, "url")] == (12, 1)
    assert positions[("feeds", 1, "tags", 1)] == (14, 3)
    assert positions[("feeds", 1, "tags", 2)] == (15, 3)
    assert positions[("feeds", 1, "quoted key")] == (16, 1)
    assert positions[("notifiers", "desk", "type")] == (18, 1)
    assert positions[("notifiers", "hook", "nested", "a", 1, "b")] == (20, 48)
    assert positions[("fetch", "a", "b", "c")] == (22, 1)
    assert positions[("feeds", 2, "interval")] == (24, 3)


def test_locate_falls_back_to_the_nearest_table_it_knows() -> None:
    positions = key_positions(DOC)
    assert locate(positions, "feeds[2].interval") == (24, 3)
    assert locate(positions, "feeds[1].missing") == (11, 1)
    assert locate(positions, "notifiers.desk.host") == (17, 1)
    assert locate(positions, "nothing.here") is None
    assert parse_key("feeds[3].tags[1]") == ("feeds", 3, "tags", 1)
    assert parse_key("") == ()


def test_a_document_that_is_not_toml_gives_what_it_could() -> None:
    positions = key_positions('a = 1\nb = "unterminated\n[c]\nd = 2\n')
    assert positions[("a",)] == (1, 1)
    assert key_positions("[[[") == {}


def test_the_position_in_a_decode_error() -> None:
    text = "a = 1\nb = \n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position, reason = decode_error_position(str(exc), text)
    assert position == (2, 5) and reason == "Invalid value"
    assert decode_error_position("Unclosed array (at end of document)", "a = [\n1") == (
        (2, 2),
        "Unclosed array",
    )


names = st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True)
strings = st.text(alphabet="ab #[]=\"'\\{},.\n\t", max_size=12)


def scalar(value: str | int) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


@given(
    st.lists(
        st.tuples(
            names,
            st.booleans(),
            st.dictionaries(names, st.one_of(strings, st.integers()), max_size=4),
        ),
        max_size=5,
    )
)
def test_every_key_is_found_where_it_is_written(
    tables: list[tuple[str, bool, dict[str, str | int]]],
) -> None:
    lines: list[str] = []
    expected: dict[tuple[str | int, ...], int] = {}  # path -> line
    counts: dict[str, int] = {}
    seen_tables: set[str] = set()
    for name, array, keys in tables:
        if name in seen_tables and not (array and name in counts):
            continue  # TOML forbids defining a table twice, or as both kinds
        seen_tables.add(name)
        if array:
            index = counts.get(name, 0)
            counts[name] = index + 1
            lines.append(f"[[{name}]]")
            path: tuple[str | int, ...] = (name, index)
        else:
            lines.append(f"[{name}]")
            path = (name,)
        for key, value in keys.items():
            lines.append(f"{key} = {scalar(value)}  # {key}")
            expected[(*path, key)] = len(lines)
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    positions = key_positions(text)
    for path, line in expected.items():
        assert positions[path] == (line, 1)
