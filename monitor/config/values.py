"""Converters of config values: each takes the TOML value and gives the typed one, or
raises TypeError or ValueError (a ``Suggestion`` for a hint, such as a limit).

Numbers carry their least and most value: beyond them a value is a typo or would overflow
date arithmetic later. docs/config.md lists them; ``monitor.config.LIMITS`` collects them.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.config.schema import Invalid, Suggestion
from monitor.types import FullArticle
from monitor.units import format_duration, parse_duration, parse_size


@dataclass(frozen=True, slots=True)
class Bounded:
    """A converter of numbers from ``least`` to ``most`` (seconds, bytes or a count)."""

    least: float
    most: float

    def _within(self, value: float, shown: Callable[[float], str]) -> None:
        if value < self.least:
            raise Suggestion(f"at least {shown(self.least)}")
        if value > self.most:
            raise Suggestion(f"at most {shown(self.most)}")


@dataclass(frozen=True, slots=True)
class Seconds(Bounded):
    """A duration ("90s", "1h30m") or a number of seconds; ``zero``: "0s" is allowed too,
    below the least positive value."""

    zero: bool = False

    def __call__(self, raw: Any) -> float:
        if self.zero and not isinstance(raw, bool) and raw in (0, "0", "0s"):
            return 0.0
        seconds = _duration(raw)
        self._within(seconds, format_duration)
        return seconds


BACKLOG = 'a duration like "1d", "0s" for none, or "all"'


@dataclass(frozen=True, slots=True)
class Backlog(Bounded):
    """A duration, "0s" for none or "all" (infinity)."""

    def __call__(self, raw: Any) -> float:
        return math.inf if raw == "all" else Seconds(self.least, self.most, zero=True)(raw)


@dataclass(frozen=True, slots=True)
class Size(Bounded):
    """A size ("10MB", "1MiB") or a number of bytes."""

    def __call__(self, raw: Any) -> int:
        if isinstance(raw, bool):
            raise TypeError
        if isinstance(raw, int):
            size = raw
        elif isinstance(raw, str):
            size = parse_size(raw)
        else:
            raise ValueError
        if size <= 0:
            raise ValueError
        self._within(size, _bytes_shown)
        return size


@dataclass(frozen=True, slots=True)
class Count(Bounded):
    """An integer."""

    def __call__(self, raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError
        self._within(raw, lambda n: str(int(n)))
        return raw


def _duration(raw: Any) -> float:
    if isinstance(raw, bool):
        raise TypeError
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str):
        seconds = parse_duration(raw)
    else:
        raise TypeError
    if not math.isfinite(seconds) or seconds <= 0:  # TOML has inf and nan
        raise ValueError
    return seconds


def _bytes_shown(size: float) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor:g}{unit}"
    return f"{size:g} bytes"


def choice(kind: Any) -> Callable[[Any], Any]:
    """A converter to one of the strings of the ``Literal`` type ``kind``."""
    allowed = get_args(kind)

    def convert(raw: Any) -> Any:
        if raw not in allowed:
            raise ValueError
        return raw

    return convert


def flag(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError
    return raw


def string(raw: Any) -> str:
    """A string with something in it."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError
    return raw


TEMPLATE_LIMIT = 64 * 1024  # characters of a message template


def template(raw: Any) -> str:
    """A Jinja2 template's source, checked to compile (in the sandbox notifiers render it in).

    A syntax error is ``Invalid``, naming the template's line and Jinja's message.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError
    if len(raw) > TEMPLATE_LIMIT:
        raise Invalid(f"the template is {len(raw)} characters long; at most {TEMPLATE_LIMIT}")
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    try:
        SandboxedEnvironment(autoescape=False).parse(raw)
    except TemplateSyntaxError as exc:
        raise Invalid(f"the template does not compile: line {exc.lineno}: {exc.message}") from None
    return raw


def array(raw: Any) -> tuple[Any, ...]:
    """An array, its items checked by whoever reads it (to name each one's place)."""
    if not isinstance(raw, list):
        raise ValueError
    return tuple(raw)


def timezone_name(raw: Any) -> str:
    name = string(raw)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(name) from None
    return name


def tags(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, str) and t for t in raw):
        raise ValueError
    return tuple(raw)


def full_article(raw: Any) -> FullArticle:
    if raw is True:
        return "always"
    if raw is False:
        return "never"
    if raw == "auto":
        return "auto"
    raise ValueError


ENV = "the name of an environment variable"


def env_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.replace("_", "").isalnum():
        raise ValueError
    return raw


def ip_address(raw: Any) -> str:
    """An IPv4 or IPv6 address to listen on, as ``ipaddress`` writes it (no host names)."""
    return str(ipaddress.ip_address(string(raw)))


def addresses(raw: Any) -> tuple[str, ...]:
    """Email addresses: one as a string, or an array of them."""
    if isinstance(raw, str):
        values: tuple[str, ...] = (raw,)
    elif isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        values = tuple(raw)
    else:
        raise ValueError
    if not values or not all("@" in v and "\n" not in v and "\r" not in v for v in values):
        raise ValueError
    return values


def address(raw: Any) -> str:
    """One email address (of an array, the first)."""
    return addresses(raw)[0]


def http_url(raw: Any) -> str:
    url = string(raw)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError
    return url


HEADERS = 'a table of header names and values, like { "Accept-Language" = "de" }'
# What the fetcher sends itself, or what would break the exchange.
_OWN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "if-none-match",
        "if-modified-since",
        "accept-encoding",
        "user-agent",
    }
)
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
# Header names whose value is a credential: only { env = "NAME" } is accepted for them.
SECRET_HEADER_PARTS = ("auth", "token", "secret", "key", "password", "cookie", "session")


def header_name(name: str) -> bool:
    """Whether ``name`` may be set per feed."""
    return bool(name) and set(name) <= _TOKEN_CHARS and name.lower() not in _OWN_HEADERS


def secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SECRET_HEADER_PARTS)


def header_value(raw: Any) -> str:
    """A header value: printable (tabs aside), so on one line."""
    if (
        not isinstance(raw, str)
        or not raw.isascii()
        or any(ch != "\t" and not ch.isprintable() for ch in raw)
    ):
        raise ValueError
    return raw.strip()


def headers_table(raw: Any) -> tuple[tuple[str, str], ...]:
    """A feed's ``headers`` as its plain (name, value) pairs; ``{ env = "NAME" }`` values are
    read by ``env_headers``. Names are checked by whoever reads it (to name each one's place)."""
    if not isinstance(raw, dict):
        raise ValueError
    return tuple((name, value) for name, value in raw.items() if isinstance(value, str))


PROXY = 'an http(s) proxy URL like "http://proxy:3128", without a password'


def proxy_url(raw: Any) -> str:
    """A proxy URL as written in config.toml: http or https, a host, no password (one
    goes in the environment variable ``proxy_env`` names)."""
    url = http_url(raw)
    parts = urlsplit(url)
    _ = parts.port  # ValueError when out of range
    if parts.password is not None or parts.path not in ("", "/") or parts.query:
        raise ValueError
    return url


def archive_url(raw: Any) -> str:
    """An archive URL as written; ``place_archive`` puts a SQLite file beside the config."""
    url = string(raw)
    if url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        return url
    raise ValueError


def place_archive(url: str, base_dir: Path) -> str:
    if url.startswith("sqlite:///"):
        target = Path(url.removeprefix("sqlite:///"))
        return "sqlite:///" + str(target if target.is_absolute() else (base_dir / target))
    return url


def resolve_feed_url(url: str, base_dir: Path) -> str:
    """http(s) and file URLs pass through; a local path becomes a file:// URL.

    A web address written without its scheme ("www.example.org/feed.xml") is refused with
    a ``Suggestion`` rather than taken for a local file that does not exist; what looks
    like a path ("./x.xml", "/srv/x.xml", "samples/x.xml") or exists stays a path.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(url)
        return url
    if scheme == "file":
        return url
    meant = _web_address(url)
    if meant is not None and not (base_dir / url).exists():
        raise Suggestion(f'did you mean "{meant}"?')
    if scheme and len(scheme) > 1:
        raise ValueError(url)
    return (base_dir / url).resolve().as_uri()


# A host name with a top-level domain, "localhost" or an IPv4 address, then maybe a port.
_HOST = re.compile(
    r"(?P<name>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9])"
    r"|(?P<local>localhost|\d{1,3}(?:\.\d{1,3}){3})",
    re.IGNORECASE,
)
# Names of feed files, not hosts: "feed.xml" alone is a file beside the config.
_FILE_SUFFIXES = (".xml", ".rss", ".atom", ".rdf", ".json", ".txt", ".html", ".htm")


def suggest_url(text: str) -> str | None:
    """The URL meant by a web address written without its scheme, if it looks like one."""
    return _web_address(text)


def _web_address(text: str) -> str | None:
    """The URL meant by a web address written without its scheme, or None for a path."""
    text = text.strip()
    if text.lower().startswith("feed:"):  # the feed: pseudo-scheme of some browsers
        rest = text[5:].removeprefix("//")
        return rest if rest.lower().startswith(("http://", "https://")) else f"https://{rest}"
    rest = text[2:] if text.startswith("//") else text
    if rest.startswith(("/", "./", "../", "~")):
        return None
    host, slash, _ = rest.partition("/")
    host, colon, port = host.partition(":")
    m = _HOST.fullmatch(host)
    if m is None or (colon and not port.isdigit()):
        return None
    if not slash and not colon and host.lower().endswith(_FILE_SUFFIXES):
        return None
    return f"{'http' if m.group('local') else 'https'}://{rest}"
