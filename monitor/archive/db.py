"""The connection as the archive's SQL uses it, whichever database is behind it."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Cursor(Protocol):
    """What the archive uses of a DB-API cursor."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    """A connection: sqlite3's, or PostgreSQL's behind an adapter that takes the same ``?``
    placeholders. Rows are read by index and by column name."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Cursor: ...


def marks(n: int) -> str:
    """Placeholders for an IN list of ``n`` values (none: a list that holds nothing, which
    PostgreSQL cannot write as ``IN ()``)."""
    return ",".join("?" * n) if n else "NULL"


def _wrap(func: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def generator(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            with self._faults():
                yield from func(self, *args, **kwargs)

        return generator

    @functools.wraps(func)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._faults():
            return func(self, *args, **kwargs)

    return method


def translate_faults(cls: type[T]) -> type[T]:
    """Class decorator: every public method (its bases' too) raises the database's storage
    failures as ``StorageFault``, by the instance's ``_faults()`` context manager."""
    methods: dict[str, Any] = {}
    for klass in cls.__mro__[:-1]:  # the class's own first: an override wins
        for name, value in vars(klass).items():
            methods.setdefault(name, value)
    for name, value in methods.items():
        if not name.startswith("_") and inspect.isfunction(value):
            setattr(cls, name, _wrap(value))
    return cls
