"""Reading topic rule files (``rules/*.toml``) and compiling their queries.

A rule file holds ``[[topic]]`` tables and optionally an ``[aliases]`` table;
aliases are shared by all files. Every problem is reported as
``FILE:LINE:COL: message`` pointing into the file itself, and all problems are
collected, not just the first. Rule files are data: nothing in them is expanded
(no environment variables, no templates).
"""

from __future__ import annotations

import gc
import re
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import MonitorError
from monitor.rules.ast import Node
from monitor.rules.cadence import EXAMPLES as CADENCE_EXAMPLES
from monitor.rules.cadence import parse_cadence
from monitor.rules.locate import (
    key_start,
    line_col,
    table_span,
    top_level_span,
    value_position,
)
from monitor.rules.parser import QueryError, parse_query
from monitor.rules.resolve import (
    MAX_EXPANDED_DEPTH,
    MAX_RULE_SET_TERMS,
    MAX_TOPIC_TERMS,
    Resolved,
    Resolver,
    describe,
)
from monitor.types import Topic

TOPIC_KEYS = (
    "name", "query", "exclude", "scope", "feeds", "tags", "notify", "delivery", "digest",
    "max_per_hour",
)  # fmt: skip
_ALIAS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)|\(at end of document\)")


class RuleError(MonitorError):
    """A problem in a rule file, located like a compiler error."""

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"{file}:{line}:{column}: {message}")


@dataclass(frozen=True, slots=True)
class RuleFile:
    path: str
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedTopic:
    """A topic with its queries parsed and aliases resolved."""

    topic: Topic
    query: Node
    exclude: Node | None
    # Where the topic is written (its N-th [[topic]] table): errors found later, such as a
    # notifier the configuration lacks, point into the file too.
    file: RuleFile | None = None
    index: int = 0


def read_rule_files(folder: Path) -> tuple[list[RuleFile], list[RuleError]]:
    if not folder.is_dir():
        return [], [RuleError(str(folder), 1, 1, "rules folder not found")]
    files: list[RuleFile] = []
    errors: list[RuleError] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            files.append(RuleFile(str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(RuleError(str(path), 1, 1, f"cannot read: {exc}"))
    return files, errors


class _FileCompiler:
    def __init__(self, file: RuleFile, errors: list[RuleError]) -> None:
        self.file = file
        self.errors = errors
        self.data: dict[str, Any] | None = None  # the file as tomllib read it, once

    def value_text(self, table: str, index: int | None, key: str) -> str:
        """The string value of ``key``, as read (empty when it is not a string)."""
        holder = self.data.get(table) if self.data is not None else None
        if isinstance(holder, list) and index is not None:
            holder = holder[index] if index < len(holder) else None
        value = holder.get(key) if isinstance(holder, dict) else None
        return value if isinstance(value, str) else ""

    def error_at(
        self, table: str, index: int | None, key: str, message: str, char: int | None = None
    ) -> None:
        """An error about the value of ``key`` (at character ``char`` of it, if given)."""
        line, col = value_position(self.file.text, table, index, key, char)
        self.errors.append(RuleError(self.file.path, line, col, message))

    def error_at_key(self, table: str, index: int | None, key: str, message: str) -> None:
        span = table_span(self.file.text, table, index)
        start = key_start(self.file.text, span, key) if span else None
        line, col = line_col(self.file.text, start) if start is not None else (1, 1)
        self.errors.append(RuleError(self.file.path, line, col, message))

    def error_at_table(self, table: str, index: int | None, message: str) -> None:
        span = table_span(self.file.text, table, index)
        line, col = line_col(self.file.text, span[0]) if span else (1, 1)
        self.errors.append(RuleError(self.file.path, line, col, message))

    def load(self) -> dict[str, Any] | None:
        try:
            self.data = tomllib.loads(self.file.text)
            return self.data
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            m = _TOML_POSITION.search(message)
            if m and m.group(1):
                line, col = int(m.group(1)), int(m.group(2))
            elif m:  # "at end of document"
                line, col = line_col(self.file.text, len(self.file.text))
            else:
                line, col = 1, 1
            reason = _TOML_POSITION.sub("", message).strip()
            self.errors.append(RuleError(self.file.path, line, col, f"not valid TOML: {reason}"))
            return None

    def query(self, table: str, index: int | None, key: str, text: Any) -> Node | None:
        if not isinstance(text, str):
            self.error_at(table, index, key, f"{key}: expected a query string")
            return None
        try:
            return parse_query(text)
        except QueryError as exc:
            self.error_at(table, index, key, exc.message, exc.offset)
            return None


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def compile_rule_files(
    files: Sequence[RuleFile], running: Sequence[Topic] = ()
) -> tuple[list[ParsedTopic], list[RuleError]]:
    """Parse every topic and alias, resolve aliases; return the topics and every error.

    Of two topics with one name, the one in ``running`` (the topics in use, when a service
    reloads) is kept and the other reported, wherever the files sort; else the first.
    """
    with gc_paused():  # see there: many query trees, all of them kept
        return _compile_rule_files(files, running)


def _compile_rule_files(
    files: Sequence[RuleFile], running: Sequence[Topic]
) -> tuple[list[ParsedTopic], list[RuleError]]:
    errors: list[RuleError] = []
    aliases: dict[str, tuple[Node, _FileCompiler]] = {}
    raw_topics: list[tuple[Topic, Node, Node | None, _FileCompiler, int]] = []
    loaded = [(fc, fc.load()) for fc in (_FileCompiler(file, errors) for file in files)]
    names = _topic_owners(loaded, running)
    for fc, data in loaded:
        file = fc.file
        if data is None:
            continue
        for key in data:
            if key not in ("topic", "aliases"):
                line, col = _key_position(file.text, key)
                errors.append(
                    RuleError(
                        file.path,
                        line,
                        col,
                        f"unknown table {key!r}: expected [[topic]] or [aliases]",
                    )
                )
        alias_table = data.get("aliases", {})
        if not isinstance(alias_table, dict):
            fc.error_at_table("aliases", None, 'aliases: expected a table of NAME = "query"')
            alias_table = {}
        for name, text in alias_table.items():
            if not _ALIAS_NAME.fullmatch(name):
                fc.error_at_key(
                    "aliases", None, name, f"alias name {name!r}: use letters, digits, _ and -"
                )
                continue
            if name in aliases:
                other = aliases[name][1].file.path
                fc.error_at_key(
                    "aliases", None, name, f"alias @{name} is already defined in {other}"
                )
                continue
            node = fc.query("aliases", None, name, text)
            if node is not None:
                aliases[name] = (node, fc)
        topics = data.get("topic", [])
        if not isinstance(topics, list):
            fc.error_at_table("topic", None, "topic: expected [[topic]] tables")
            continue
        for index, table in enumerate(topics):
            parsed = _topic(fc, index, table, names)
            if parsed is not None:
                raw_topics.append((*parsed, fc, index))

    resolver = Resolver(aliases)
    resolver.check_all()
    out: list[ParsedTopic] = []
    total = 0  # words and operators of every topic so far, aliases written out
    for topic, query, exclude, fc, index in raw_topics:
        resolved = resolver.resolve(query, fc, "topic", index, "query")
        resolved_exclude = (
            resolver.resolve(exclude, fc, "topic", index, "exclude")
            if exclude is not None
            else None
        )
        if resolved is None or (exclude is not None and resolved_exclude is None):
            continue
        terms = _within_limits(fc, index, resolved, resolved_exclude)
        if terms is None:
            continue
        if total <= MAX_RULE_SET_TERMS < total + terms:  # said once, at the topic past it
            fc.error_at(
                "topic",
                index,
                "query",
                f"the topics up to {topic.name!r} come to more than {MAX_RULE_SET_TERMS:,} "
                "words and operators, aliases written out: the most all topics together "
                "may have",
            )
        total += terms
        if total > MAX_RULE_SET_TERMS:
            continue
        out.append(
            ParsedTopic(
                topic=topic,
                query=resolved.node,
                exclude=resolved_exclude.node if resolved_exclude is not None else None,
                file=fc.file,
                index=index,
            )
        )
    return out, errors


def _within_limits(
    fc: _FileCompiler, index: int, query: Resolved, exclude: Resolved | None
) -> int | None:
    """The topic's words and operators, aliases written out; None (reported) past a limit."""
    ok = True
    for key, part in (("query", query), ("exclude", exclude)):
        if part is not None and part.depth > MAX_EXPANDED_DEPTH:
            fc.error_at(
                "topic",
                index,
                key,
                f"{key}: nested {part.depth:,} levels deep, aliases written out "
                f"(at most {MAX_EXPANDED_DEPTH})",
            )
            ok = False
    terms = query.terms + (exclude.terms if exclude is not None else 0)
    if terms > MAX_TOPIC_TERMS:
        fc.error_at(
            "topic",
            index,
            "query",
            f"query: {describe(terms)} words and operators, aliases written out (a topic "
            f"may have at most {MAX_TOPIC_TERMS:,}, with its exclude)",
        )
        ok = False
    return terms if ok else None


def _topic_owners(
    loaded: Sequence[tuple[_FileCompiler, dict[str, Any] | None]], running: Sequence[Topic]
) -> dict[str, tuple[str, int]]:
    """For each topic name, the definition (file, index) that keeps it.

    A duplicate is reported at the definition being added, not at the one in use: the
    running topic of that name (same file and query, else same file) wins, else the first.
    """
    found: dict[str, list[tuple[str, int, Any]]] = {}
    for fc, data in loaded:
        topics = data.get("topic") if data is not None else None
        if not isinstance(topics, list):
            continue
        for index, table in enumerate(topics):
            name = table.get("name") if isinstance(table, dict) else None
            if isinstance(name, str) and name.strip():
                found.setdefault(name, []).append((fc.file.path, index, table.get("query")))
    in_use = {t.name: t for t in running}
    owners: dict[str, tuple[str, int]] = {}
    for name, places in found.items():
        owner = places[0]
        topic = in_use.get(name)
        if topic is not None and len(places) > 1:
            same_file = [p for p in places if p[0] == topic.source]
            owner = next((p for p in same_file if p[2] == topic.query), None) or next(
                iter(same_file), owner
            )
        owners[name] = (owner[0], owner[1])
    return owners


def _key_position(text: str, key: str) -> tuple[int, int]:
    """Where a top-level key or table is written: from the file's index, else searched."""
    span = table_span(text, key, None) or table_span(text, key, 0)
    start = span[0] if span else key_start(text, top_level_span(text), key)
    if start is not None:
        return line_col(text, start)
    m = re.search(rf"^[ \t]*\[*[ \t]*{re.escape(key)}\b", text, re.MULTILINE)
    return line_col(text, m.start()) if m else (1, 1)


def _topic(
    fc: _FileCompiler, index: int, table: Any, names: dict[str, tuple[str, int]]
) -> tuple[Topic, Node, Node | None] | None:
    if not isinstance(table, dict):
        fc.error_at_table("topic", index, "topic: expected a table")
        return None
    bad = False
    for key in table:
        if key not in TOPIC_KEYS:
            expected = ", ".join(TOPIC_KEYS)
            fc.error_at_key(
                "topic", index, key, f"unknown key {key!r} (expected one of: {expected})"
            )
            bad = True
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        fc.error_at_table("topic", index, "topic: missing name (a non-empty string)")
        return None
    owner = names.get(name, (fc.file.path, index))
    if owner != (fc.file.path, index):
        fc.error_at("topic", index, "name", f"topic {name!r} is already defined in {owner[0]}")
        return None
    if "query" not in table:
        fc.error_at_table("topic", index, f"topic {name!r}: missing query")
        return None
    query = fc.query("topic", index, "query", table["query"])
    exclude = fc.query("topic", index, "exclude", table["exclude"]) if "exclude" in table else None
    fields: dict[str, Any] = {}
    checks: list[tuple[str, Any, str]] = [
        (
            "scope",
            lambda v: v if v in ("all", "title", "body") else None,
            '"all", "title" or "body"',
        ),
        ("feeds", _strings, "a list of feed names or URLs"),
        ("tags", _strings, "a list of tags"),
        ("notify", _strings, "a list of notifier names"),
        (
            "delivery",
            lambda v: v if v in ("immediate", "digest") else None,
            '"immediate" or "digest"',
        ),
        (
            "max_per_hour",
            lambda v: v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None,
            "a positive integer",
        ),
    ]
    for key, convert, expected in checks:
        if key in table:
            value = convert(table[key])
            if value is None:
                fc.error_at("topic", index, key, f"{key}: expected {expected}, got {table[key]!r}")
                bad = True
            else:
                fields[key] = value
    if "digest" in table:
        # Read now: a schedule that cannot be read would fail at every digest tick instead.
        digest = table["digest"]
        try:
            if not isinstance(digest, str):
                raise ValueError(f"expected a schedule like {CADENCE_EXAMPLES}, got {digest!r}")
            parse_cadence(digest)
        except ValueError as exc:
            fc.error_at("topic", index, "digest", f"digest: {exc}")
            bad = True
        else:
            fields["digest"] = digest
    if fields.get("notify") == ():
        # An empty list would record matches and send every alert nowhere.
        fc.error_at(
            "topic",
            index,
            "notify",
            "notify: an empty list sends alerts nowhere; name notifiers, or leave notify out "
            "to alert every notifier",
        )
        bad = True
    if fields.get("delivery") == "digest" and "digest" not in fields:
        fields["digest"] = "daily 08:00"
    if query is None or bad or ("exclude" in table and exclude is None):
        return None
    line, _ = line_col(fc.file.text, (table_span(fc.file.text, "topic", index) or (0, 0))[0])
    topic = Topic(
        name=name,
        query=table["query"],
        exclude=table.get("exclude"),
        source=fc.file.path,
        line=line,
        **fields,
    )
    return topic, query, exclude


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: for building many long-lived objects.

    Compiling 100k topics allocates millions of objects and frees almost none; each
    allocation threshold crossed would start a collection that traverses all of them
    for nothing (100k topics: 11 s to build instead of 3.4 s). Collection is
    process-wide: it resumes when the outermost of nested pauses ends, if it was on
    before (with pauses in several threads, when the first of them ends).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
