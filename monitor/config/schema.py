"""Config keys declared once, on the dataclass fields that hold them, and read from them.

A key is a field made with ``setting`` (or ``field(metadata=required(...))`` when it has no
default): its default, its converter and what messages say was expected::

    @dataclass(frozen=True, kw_only=True, slots=True)
    class FetchSettings:
        timeout: float = setting(30.0, Seconds(1, 3600), 'a duration like "30s"')

``schema(FetchSettings)`` lists the keys of its table in field order (the order messages
list them in), and ``read`` gives the value of each from a parsed TOML table, recording
every mistake in a ``Checker``. A field without a setting (a notifier's ``name``) is no key.
Converters raise TypeError or ValueError for a wrong value, or a ``Suggestion`` whose text
is added to the message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from monitor.config.tomlmap import key_positions, locate
from monitor.errors import ConfigError, ConfigErrors
from monitor.redact import redact_text

T = TypeVar("T")
D = TypeVar("D")

_SETTING = "monitor.config.setting"  # the metadata key of a field's Setting


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """How one key is read."""

    convert: Callable[[Any], Any]
    expected: str  # messages say "expected <this>, got <value>"
    default: Any = None  # when the key is absent, or its value is wrong (and recorded)
    missing: str | None = None  # a required key: the message when it is absent


def setting(default: T, convert: Callable[[Any], T], expected: str) -> T:
    """A dataclass field that is a config key with this default."""
    meta = {_SETTING: Setting(convert, expected, default)}
    return dataclasses.field(default=default, metadata=meta)


def required(
    convert: Callable[[Any], Any], expected: str, *, missing: str = "missing", fallback: Any = None
) -> Mapping[str, Setting]:
    """Metadata of a field that is a required key: ``field(metadata=required(...))``.

    A plain ``field`` keeps the argument required for mypy too; ``fallback`` stands in for a
    wrong value, as a default does.
    """
    return {_SETTING: Setting(convert, expected, fallback, missing)}


Schema = Mapping[str, Setting]  # the keys of one table, in the order messages list them


def schema(cls: type[Any]) -> Schema:
    """The keys of the table that ``cls`` holds, from its fields."""
    return {f.name: f.metadata[_SETTING] for f in dataclasses.fields(cls) if _SETTING in f.metadata}


class Suggestion(ValueError):
    """A ValueError whose message is a hint for the user, e.g. 'did you mean ...?'."""


class Invalid(ValueError):
    """A ValueError whose message is the whole message, the value not quoted back (a long
    template, say)."""


class Checker:
    """Reads typed values out of the parsed TOML, naming the key path on error.

    Mistakes are collected so that one load reports all of them: ``setting`` records one and
    gives the default, and so do ``table`` and ``only``. ``fail`` records one too and
    returns an error holding every mistake so far, for ``raise c.fail(...)`` where
    reading cannot go on; ``check`` raises it at the end when there was any.
    """

    def __init__(self, path: Path, text: str = "") -> None:
        self.path = path  # as the user gave it: messages name the file they know
        self.text = text
        self.errors: list[ConfigError] = []
        self._positions: dict[tuple[str | int, ...], tuple[int, int]] | None = None
        self._labels: dict[str, str] = {}

    def name(self, key: str, label: str) -> None:
        """Show ``key`` ("feeds[3]") as "feeds[3] (LABEL)" in messages about it and its keys."""
        self._labels[key] = f"{key} ({label})"

    def fail(self, key: str, message: str) -> ConfigError:
        self.errors.append(self._error(key, message))
        return self._all()

    def label(self, key: str) -> str:
        """``key`` as messages show it."""
        for prefix, shown in self._labels.items():
            if key == prefix or key.startswith((prefix + ".", prefix + "[")):
                return shown + key[len(prefix) :]
        return key

    def check(self) -> None:
        if self.errors:
            raise self._all()

    def _all(self) -> ConfigError:
        if len(self.errors) == 1:
            return self.errors[0]
        # In file order, as an editor would list them; unplaced ones last.
        return ConfigErrors(sorted(self.errors, key=lambda e: (e.line or 1 << 30, e.column or 0)))

    def _error(self, key: str, message: str) -> ConfigError:
        position = None
        if self.text:
            if self._positions is None:
                self._positions = key_positions(self.text)
            position = locate(self._positions, key)
        line, column = position or (None, None)
        return ConfigError(
            redact_text(message),  # a value quoted back may be a URL with a password
            path=str(self.path),
            key=key,
            line=line,
            column=column,
            label=self.label(key),
        )

    def table(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {show(value)}")
            return {}
        self.only(value, key, allowed)
        return value

    def only(self, value: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in value:
            if name not in allowed:
                prefix = f"{key}." if key else ""
                hint = ", ".join(allowed)
                self.fail(f"{prefix}{name}", f"unknown key (expected one of: {hint})")

    def setting(self, data: Mapping[str, Any], key: str, name: str, spec: Setting) -> Any:
        """The value of ``name`` in the table ``key`` as ``spec`` reads it; its default when
        absent or wrong (the mistake recorded)."""
        if name not in data:
            return spec.default
        raw = data[name]
        try:
            return spec.convert(raw)
        except Invalid as exc:
            self.fail(_join(key, name), exc.args[0])
            return spec.default
        except (TypeError, ValueError) as exc:
            hint = f"; {exc.args[0]}" if isinstance(exc, Suggestion) else ""
            self.fail(_join(key, name), f"expected {spec.expected}, got {show(raw)}{hint}")
            return spec.default

    def missing(self, data: Mapping[str, Any], key: str, keys: Schema) -> bool:
        """Record each required key absent from the table ``key``; whether there was any."""
        absent = [name for name, spec in keys.items() if spec.missing and name not in data]
        for name in absent:
            self.fail(_join(key, name), keys[name].missing or "")
        return bool(absent)


def read(
    c: Checker,
    data: Mapping[str, Any],
    key: str,
    keys: Schema,
    *,
    given: Mapping[str, Any] | None = None,
    bound: Mapping[str, Setting] | None = None,
) -> dict[str, Any]:
    """The value of every key of ``keys`` in the table ``key``, read in their order.

    ``given`` holds values read otherwise, taken as they are; ``bound`` replaces the Setting
    of a key whose check depends on the rest of the file (a notifier's name, a path beside
    the file), known only when reading.
    """
    values = dict(given or {})
    for name, spec in keys.items():
        if name not in values:
            values[name] = c.setting(data, key, name, (bound or {}).get(name, spec))
    return values


def section(c: Checker, data: Mapping[str, Any], key: str, cls: type[D]) -> D:
    """The table ``key`` of ``data`` read into ``cls``: unknown keys and wrong values recorded."""
    keys = schema(cls)
    return cls(**read(c, c.table(data, key, tuple(keys)), key, keys))


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def show(value: Any) -> str:
    """A value as messages quote it back, TOML-like."""
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)
