"""Every exception class in the package survives pickling, as a worker process's errors must.

The classes are found by walking the package, so a new one cannot be forgotten; each is
built with a distinct value per ``__init__`` parameter, so swapped attributes show too.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import pickle
import pkgutil
import types
import typing
from typing import Any

import pytest

import monitor


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    modules = pkgutil.walk_packages(monitor.__path__, prefix="monitor.")
    for name in sorted(info.name for info in modules):
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                found.append(value)
    return found


CLASSES = _exception_classes()
_counter = itertools.count(1)


def _sample(hint: Any, name: str) -> Any:
    """A distinct value of the annotated type."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    n = next(_counter)
    if hint is bool:
        return n % 2 == 0
    if hint is int:
        return n
    if hint is float:
        return n + 0.5
    if hint is str:
        return f"{name}-{n}"
    (item,) = typing.get_args(hint) or (None,)
    is_error = isinstance(item, type) and issubclass(item, BaseException)
    if typing.get_origin(hint) is list and is_error:  # errors that gather errors
        return [_instance(item), _instance(item)]
    raise AssertionError(f"no sample value for {name}: {hint!r}; extend _sample")


def _instance(cls: type[BaseException]) -> BaseException:
    init = cls.__init__
    if not inspect.isfunction(init):  # the built-in one: a message
        return cls(f"{cls.__name__} message")
    hints = typing.get_type_hints(init)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in list(inspect.signature(init).parameters.values())[1:]:
        if param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = _sample(hints[param.name], param.name)
        elif param.kind is param.POSITIONAL_OR_KEYWORD:
            args.append(_sample(hints[param.name], param.name))
    return cls(*args, **kwargs)


def test_the_walk_finds_the_error_classes() -> None:
    names = {c.__name__ for c in CLASSES}
    known = {"MonitorError", "FeedParseError", "RetryLater", "QueryError", "RuleError"}
    assert known | {"AlreadyRunning", "BlockedAddress", "WorkerDied", "OutOfTime"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_error_survives_pickling(cls: type[BaseException]) -> None:
    original = _instance(cls)
    original.add_note("a note")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original)
    assert copy.args == original.args
    assert _same(vars(copy), vars(original))


def _same(a: Any, b: Any) -> bool:
    """Equal, with exceptions (which compare by identity) compared by type, args and vars."""
    if isinstance(a, BaseException) and isinstance(b, BaseException):
        return type(a) is type(b) and a.args == b.args and _same(vars(a), vars(b))
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)
