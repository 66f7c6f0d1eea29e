"""Loading and validating ``config.toml``.

The whole file is checked on load and every mistake is reported at once, each with
the file, the line and column of its key, the key path and what was expected, e.g.
``config.toml:12:1: feeds[3] (Example News).interval: expected a duration like "15m",
got "soon"``. Secrets never live in the file: notifiers name environment variables.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor import __version__
from monitor.errors import ConfigError, ConfigErrors
from monitor.netguard import parse_allow_entry
from monitor.redact import redact_text, redact_url, remember_url
from monitor.tomlmap import decode_error_position, key_positions, locate
from monitor.types import Feed, FullArticle
from monitor.units import format_duration, parse_duration, parse_size
from monitor.urls import feed_key

DEFAULT_USER_AGENT = (
    f"news-monitor/{__version__} (+https://github.com/news-monitor/news-monitor; feed poller)"
)
NOTIFIER_TYPES = ("email", "webhook", "apprise", "console")
# Keys that would hold a secret in clear text; the *_env form is required instead.
_SECRET_KEYS = ("password", "secret", "token", "api_key")

T = TypeVar("T")

_DAY = 86400.0
# The least and most each number may be (seconds, bytes or a count), as docs/config.md
# lists them: beyond them a value is a typo or would overflow date arithmetic later.
# "notifiers.*" and "feeds.*" stand for the keys of every notifier and feed.
LIMITS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "fetch.timeout": (1, 3600),
        "fetch.connect_timeout": (1, 3600),
        "fetch.read_timeout": (1, 3600),
        "fetch.max_bytes": (1024, 1024**3),
        "fetch.concurrency": (1, 1024),
        "fetch.per_host": (1, 256),
        "fetch.host_spacing": (0.001, 3600),  # or 0
        "fetch.max_redirects": (0, 20),
        "schedule.default_interval": (1, 30 * _DAY),
        "schedule.min_interval": (1, 30 * _DAY),
        "schedule.max_interval": (1, 30 * _DAY),
        "schedule.max_backoff": (1, 30 * _DAY),
        "schedule.workers": (0, 256),
        "schedule.parse_timeout": (0.1, 3600),
        "schedule.backlog_alerts": (1, 3650 * _DAY),  # or "0s", or "all"
        "delivery.max_attempts": (1, 1000),
        "delivery.max_age": (1, 365 * _DAY),
        "delivery.backoff": (0.01, _DAY),
        "delivery.max_backoff": (0.01, 30 * _DAY),
        "service.tick": (0.1, 3600),
        "service.deliver_every": (0.1, 3600),
        "service.reload_every": (0.1, 3600),
        "service.grace": (1, 3600),
        "service.failing_after": (1, 365 * _DAY),
        "service.metrics_port": (1, 65535),
        "articles.short_words": (0, 100_000),
        "feeds.interval": (1, 30 * _DAY),
        "feeds.backlog_alerts": (1, 3650 * _DAY),  # or "0s", or "all"
        "notifiers.port": (1, 65535),
        "notifiers.timeout": (1, 600),
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchSettings:
    timeout: float = 30.0  # total deadline per request, whatever the server trickles
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    max_bytes: int = 10 * 1024 * 1024
    concurrency: int = 16
    per_host: int = 4
    host_spacing: float = 0.0  # least time between two requests to one host
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleSettings:
    default_interval: float = 900.0
    min_interval: float = 60.0
    max_interval: float = 86400.0
    max_backoff: float = 6 * 3600.0
    adaptive: bool = False  # feeds without an interval may be polled faster when busy
    workers: int = 0  # parse processes; 0 means one per CPU
    parse_timeout: float = 60.0  # a parse or extraction in a worker is abandoned after this
    timezone: str = "UTC"  # IANA name: digest times of day, and times the commands show
    backlog_alerts: float = 86400.0  # a new feed's first poll alerts items this recent (inf: all)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # validated on load; zoneinfo caches instances


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailSettings:
    name: str
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None  # environment variable holding the password
    timeout: float = 30.0
    ca_file: str | None = None  # extra CA certificates, for a relay with a private CA
    type: Literal["email"] = "email"


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSettings:
    name: str
    url: str | None = None
    url_env: str | None = None  # the URL itself is a secret for Slack and Discord hooks
    secret_env: str | None = None  # a Standard Webhooks secret: "whsec_" + base64
    format: Literal["json", "slack", "discord"] = "json"
    timeout: float = 15.0
    type: Literal["webhook"] = "webhook"


@dataclass(frozen=True, kw_only=True, slots=True)
class AppriseSettings:
    name: str
    url_env: str  # Apprise URLs carry credentials, so they come from the environment
    type: Literal["apprise"] = "apprise"


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsoleSettings:
    """Alerts printed to standard output: for trying the monitor out, and container logs."""

    name: str
    type: Literal["console"] = "console"


NotifierSettings = EmailSettings | WebhookSettings | AppriseSettings | ConsoleSettings


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceSettings:
    """How ``monitor run`` behaves."""

    tick: float = 1.0  # how often due feeds are claimed
    deliver_every: float = 5.0  # outbox delivery (it also runs right after new alerts)
    reload_every: float = 2.0  # config and rule files are checked for changes this often
    grace: float = 20.0  # on SIGTERM, time to finish what is in flight
    health_notifier: str | None = None  # gets one alert when a feed fails for too long
    failing_after: float = 6 * 3600.0
    metrics_port: int | None = None  # /healthz and /metrics on 127.0.0.1
    log_format: Literal["plain", "json"] = "plain"


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliverySettings:
    max_attempts: int = 12
    max_age: float = 2 * 86400.0  # an alert still undelivered after this is dead-lettered
    backoff: float = 30.0  # first retry delay; doubles per attempt, with jitter
    max_backoff: float = 3600.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ArticleSettings:
    """Article pages come from feed URLs: only public addresses, plus these intranet sources."""

    allow: tuple[str, ...] = ()  # "intranet.example", "*.corp.example", "10.1.0.0/16", "h:8080"
    short_words: int = 150  # full_article = "auto" fetches items with less text than this


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    path: Path
    archive_url: str
    rules_path: Path
    feeds: tuple[Feed, ...] = ()
    notifiers: Mapping[str, NotifierSettings] = field(default_factory=lambda: MappingProxyType({}))
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    delivery: DeliverySettings = DeliverySettings()
    service: ServiceSettings = ServiceSettings()
    articles: ArticleSettings = ArticleSettings()

    @property
    def base_dir(self) -> Path:
        return self.path.parent


class _Checker:
    """Reads typed values out of the parsed TOML, naming the key path on error.

    Mistakes are collected so that one load reports all of them: ``get`` records one and
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
            self.fail(key, f"expected a table, got {_show(value)}")
            return {}
        self.only(value, key, allowed)
        return value

    def only(self, value: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in value:
            if name not in allowed:
                prefix = f"{key}." if key else ""
                hint = ", ".join(allowed)
                self.fail(f"{prefix}{name}", f"unknown key (expected one of: {hint})")

    def get(
        self,
        data: Mapping[str, Any],
        key: str,
        name: str,
        convert: Callable[[Any], T],
        expected: str,
        default: T,
    ) -> T:
        if name not in data:
            return default
        raw = data[name]
        try:
            return convert(raw)
        except (TypeError, ValueError) as exc:
            hint = _hint(exc)
            self.fail(_join(key, name), f"expected {expected}, got {_show(raw)}{hint}")
            return default


def _hint(exc: Exception) -> str:
    """A suggestion a converter attached to its ValueError (``Suggestion``), as "; ..."."""
    return f"; {exc.args[0]}" if isinstance(exc, Suggestion) else ""


class Suggestion(ValueError):
    """A ValueError whose message is a hint for the user, e.g. 'did you mean ...?'."""


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


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


def _within(value: float, key: str, shown: Callable[[float], str]) -> None:
    """A ``Suggestion`` naming the limit when ``value`` is outside ``LIMITS[key]``."""
    least, most = LIMITS[key]
    if value < least:
        raise Suggestion(f"at least {shown(least)}")
    if value > most:
        raise Suggestion(f"at most {shown(most)}")


def _seconds(key: str, *, zero: bool = False) -> Callable[[Any], float]:
    """A converter for the duration key ``key`` (``"fetch.timeout"``); ``zero``: "0s" is
    allowed too, below the least positive value."""

    def convert(raw: Any) -> float:
        if zero and not isinstance(raw, bool) and raw in (0, "0", "0s"):
            return 0.0
        seconds = _duration(raw)
        _within(seconds, key, format_duration)
        return seconds

    return convert


def _bytes_shown(size: float) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor:g}{unit}"
    return f"{size:g} bytes"


def _size(key: str) -> Callable[[Any], int]:
    def convert(raw: Any) -> int:
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
        _within(size, key, _bytes_shown)
        return size

    return convert


def _count(key: str) -> Callable[[Any], int]:
    """A converter for the integer key ``key``: an integer within its limits."""

    def convert(raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError
        _within(raw, key, lambda n: str(int(n)))
        return raw

    return convert


def _bool(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError
    return raw


def _string(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError
    return raw


def _timezone(raw: Any) -> str:
    name = _string(raw)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(name) from None
    return name


def _tags(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, str) and t for t in raw):
        raise ValueError
    return tuple(raw)


def _full_article(raw: Any) -> FullArticle:
    if raw is True:
        return "always"
    if raw is False:
        return "never"
    if raw == "auto":
        return "auto"
    raise ValueError


_BACKLOG = 'a duration like "1d", "0s" for none, or "all"'


def _backlog(key: str) -> Callable[[Any], float]:
    seconds = _seconds(key, zero=True)

    def convert(raw: Any) -> float:
        return math.inf if raw == "all" else seconds(raw)

    return convert


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


def _archive_url(raw: Any, base_dir: Path) -> str:
    url = _string(raw)
    if url.startswith("sqlite:///"):
        target = Path(url.removeprefix("sqlite:///"))
        return "sqlite:///" + str(target if target.is_absolute() else (base_dir / target))
    if url.startswith(("postgresql://", "postgres://")):
        return url
    raise ValueError


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raise ConfigError naming every mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=str(path)) from exc
    return parse_config_text(text, path)


def parse_config_text(text: str, path: Path) -> Config:
    """Validate ``text`` as the config file at ``path`` (named in messages as given)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position, reason = decode_error_position(str(exc), text)
        line, column = position or (None, None)
        raise ConfigError(
            f"not valid TOML: {reason}", path=str(path), line=line, column=column
        ) from exc
    return parse_config(data, path, text=text)


def salvage_setting(path: Path, table: str, key: str) -> Any:
    """The value of ``[table] key`` in a config file that may not load; None if unreadable.

    For ``monitor status`` with a broken file: a mistake elsewhere (even bad TOML) leaves
    a ``[table]`` written on its own lines readable, parsed alone.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        header = re.search(rf"^[ \t]*\[[ \t]*{re.escape(table)}[ \t]*\][ \t]*(?:#.*)?$", text, re.M)
        if header is None:
            return None
        following = re.search(r"^[ \t]*\[", text[header.end() :], re.M)
        body = text[header.end() : header.end() + following.start() if following else len(text)]
        try:
            data = {table: tomllib.loads(body)}
        except tomllib.TOMLDecodeError:
            return None
    section = data.get(table)
    return section.get(key) if isinstance(section, dict) else None


def archive_url_despite_errors(path: Path) -> tuple[str, bool]:
    """The archive a config file names, read even when the file does not load (and True);
    else the default one beside it (and False)."""
    base = path.resolve().parent
    try:
        return _archive_url(salvage_setting(path, "archive", "url"), base), True
    except (TypeError, ValueError):
        return _archive_url("sqlite:///archive/monitor.db", base), False


def parse_config(data: Mapping[str, Any], path: Path, *, text: str = "") -> Config:
    """Validate parsed TOML; ``text``, the file's text, places each mistake in it."""
    c = _Checker(path, text)
    path = path.resolve()
    base = path.parent
    c.only(
        data,
        "",
        (
            "archive", "rules", "feeds", "notifiers", "fetch", "schedule", "delivery", "service",
            "articles",
        ),
    )  # fmt: skip

    archive = c.table(data, "archive", ("url",))
    archive_url = c.get(
        archive,
        "archive",
        "url",
        lambda v: _archive_url(v, base),
        'a URL like "sqlite:///archive/monitor.db" or "postgresql://..."',
        _archive_url("sqlite:///archive/monitor.db", base),
    )
    rules = c.table(data, "rules", ("path",))
    rules_path = base / c.get(rules, "rules", "path", _string, "a folder path", "rules")

    fetch_t = c.table(
        data,
        "fetch",
        (
            "timeout",
            "connect_timeout",
            "read_timeout",
            "max_bytes",
            "concurrency",
            "per_host",
            "max_redirects",
            "user_agent",
            "host_spacing",
        ),
    )
    d = FetchSettings()
    dur = 'a duration like "30s"'
    fetch = FetchSettings(
        timeout=c.get(fetch_t, "fetch", "timeout", _seconds("fetch.timeout"), dur, d.timeout),
        connect_timeout=c.get(
            fetch_t,
            "fetch",
            "connect_timeout",
            _seconds("fetch.connect_timeout"),
            dur,
            d.connect_timeout,
        ),
        read_timeout=c.get(
            fetch_t, "fetch", "read_timeout", _seconds("fetch.read_timeout"), dur, d.read_timeout
        ),
        max_bytes=c.get(
            fetch_t,
            "fetch",
            "max_bytes",
            _size("fetch.max_bytes"),
            'a size like "10MB"',
            d.max_bytes,
        ),
        concurrency=c.get(
            fetch_t,
            "fetch",
            "concurrency",
            _count("fetch.concurrency"),
            "a positive integer",
            d.concurrency,
        ),
        per_host=c.get(
            fetch_t, "fetch", "per_host", _count("fetch.per_host"), "a positive integer", d.per_host
        ),
        max_redirects=c.get(
            fetch_t,
            "fetch",
            "max_redirects",
            _count("fetch.max_redirects"),
            "an integer",
            d.max_redirects,
        ),
        user_agent=c.get(fetch_t, "fetch", "user_agent", _string, "a string", d.user_agent),
        host_spacing=c.get(
            fetch_t,
            "fetch",
            "host_spacing",
            _seconds("fetch.host_spacing", zero=True),
            'a duration like "500ms"',
            d.host_spacing,
        ),
    )

    sched_t = c.table(
        data,
        "schedule",
        (
            "default_interval",
            "min_interval",
            "max_interval",
            "max_backoff",
            "adaptive",
            "workers",
            "parse_timeout",
            "timezone",
            "backlog_alerts",
        ),
    )
    s = ScheduleSettings()
    dur = 'a duration like "15m"'
    schedule = ScheduleSettings(
        default_interval=c.get(
            sched_t,
            "schedule",
            "default_interval",
            _seconds("schedule.default_interval"),
            dur,
            s.default_interval,
        ),
        min_interval=c.get(
            sched_t,
            "schedule",
            "min_interval",
            _seconds("schedule.min_interval"),
            dur,
            s.min_interval,
        ),
        max_interval=c.get(
            sched_t,
            "schedule",
            "max_interval",
            _seconds("schedule.max_interval"),
            dur,
            s.max_interval,
        ),
        max_backoff=c.get(
            sched_t, "schedule", "max_backoff", _seconds("schedule.max_backoff"), dur, s.max_backoff
        ),
        adaptive=c.get(sched_t, "schedule", "adaptive", _bool, "true or false", s.adaptive),
        workers=c.get(
            sched_t, "schedule", "workers", _count("schedule.workers"), "an integer", s.workers
        ),
        parse_timeout=c.get(
            sched_t,
            "schedule",
            "parse_timeout",
            _seconds("schedule.parse_timeout"),
            'a duration like "60s"',
            s.parse_timeout,
        ),
        timezone=c.get(
            sched_t,
            "schedule",
            "timezone",
            _timezone,
            'an IANA time zone name like "Europe/Berlin"',
            s.timezone,
        ),
        backlog_alerts=c.get(
            sched_t,
            "schedule",
            "backlog_alerts",
            _backlog("schedule.backlog_alerts"),
            _BACKLOG,
            s.backlog_alerts,
        ),
    )
    if schedule.min_interval > schedule.max_interval:
        c.fail("schedule.min_interval", "must not be larger than schedule.max_interval")

    delivery_t = c.table(data, "delivery", ("max_attempts", "max_age", "backoff", "max_backoff"))
    dd = DeliverySettings()
    delivery = DeliverySettings(
        max_attempts=c.get(
            delivery_t,
            "delivery",
            "max_attempts",
            _count("delivery.max_attempts"),
            "an integer",
            dd.max_attempts,
        ),
        max_age=c.get(
            delivery_t, "delivery", "max_age", _seconds("delivery.max_age"), dur, dd.max_age
        ),
        backoff=c.get(
            delivery_t, "delivery", "backoff", _seconds("delivery.backoff"), dur, dd.backoff
        ),
        max_backoff=c.get(
            delivery_t,
            "delivery",
            "max_backoff",
            _seconds("delivery.max_backoff"),
            dur,
            dd.max_backoff,
        ),
    )

    notifiers = _notifiers(c, data.get("notifiers", {}))
    service = _service(c, data, notifiers)
    feeds = _feeds(c, data.get("feeds", []), base)
    articles = _articles(c, data)

    c.check()
    return Config(
        path=path,
        archive_url=archive_url,
        rules_path=rules_path,
        feeds=feeds,
        notifiers=MappingProxyType(notifiers),
        fetch=fetch,
        schedule=schedule,
        delivery=delivery,
        service=service,
        articles=articles,
    )


def _articles(c: _Checker, data: Mapping[str, Any]) -> ArticleSettings:
    table = c.table(data, "articles", ("allow", "short_words"))
    raw = table.get("allow", [])
    if not isinstance(raw, list):
        c.fail("articles.allow", f"expected an array of strings, got {_show(raw)}")
        raw = []
    for i, entry in enumerate(raw):
        try:
            if not isinstance(entry, str):
                raise ValueError("not a string")
            parse_allow_entry(entry)
        except ValueError as exc:
            c.fail(
                f"articles.allow[{i}]",
                'expected a host name, address or network like "intranet.example" or '
                f'"10.1.0.0/16", got {_show(entry)} ({exc})',
            )
    short_words = c.get(
        table,
        "articles",
        "short_words",
        _count("articles.short_words"),
        "a positive integer",
        ArticleSettings().short_words,
    )
    return ArticleSettings(allow=tuple(raw), short_words=short_words)


def _service(
    c: _Checker, data: Mapping[str, Any], notifiers: Mapping[str, NotifierSettings]
) -> ServiceSettings:
    t = c.table(
        data,
        "service",
        (
            "tick", "deliver_every", "reload_every", "grace", "health_notifier",
            "failing_after", "metrics_port", "log_format",
        ),
    )  # fmt: skip
    d = ServiceSettings()
    dur = 'a duration like "5s"'

    # A notifier with mistakes of its own is reported there, not again here.
    declared = data.get("notifiers")
    named = set(notifiers) | (set(declared) if isinstance(declared, dict) else set())

    def notifier_name(raw: Any) -> str:
        if not isinstance(raw, str) or raw not in named:
            raise ValueError
        return str(raw)

    def log_format(raw: Any) -> Literal["plain", "json"]:
        if raw == "plain":
            return "plain"
        if raw == "json":
            return "json"
        raise ValueError

    return ServiceSettings(
        tick=c.get(t, "service", "tick", _seconds("service.tick"), dur, d.tick),
        deliver_every=c.get(
            t, "service", "deliver_every", _seconds("service.deliver_every"), dur, d.deliver_every
        ),
        reload_every=c.get(
            t, "service", "reload_every", _seconds("service.reload_every"), dur, d.reload_every
        ),
        grace=c.get(t, "service", "grace", _seconds("service.grace"), dur, d.grace),
        health_notifier=c.get(
            t,
            "service",
            "health_notifier",
            notifier_name,
            f"the name of a notifier ({', '.join(notifiers) or 'none configured'})",
            None,
        ),
        failing_after=c.get(
            t, "service", "failing_after", _seconds("service.failing_after"), dur, d.failing_after
        ),
        metrics_port=c.get(
            t, "service", "metrics_port", _count("service.metrics_port"), "a port number", None
        ),
        log_format=c.get(t, "service", "log_format", log_format, '"plain" or "json"', "plain"),
    )


def _feeds(c: _Checker, raw: Any, base: Path) -> tuple[Feed, ...]:
    if not isinstance(raw, list):
        c.fail("feeds", "expected an array of [[feeds]] tables")
        return ()
    feeds: list[Feed] = []
    seen: dict[str, str] = {}  # a feed URL as compared -> the feed that has it
    for i, item in enumerate(raw):
        key = f"feeds[{i}]"
        if not isinstance(item, dict):
            c.fail(key, f"expected a table, got {_show(item)}")
            continue
        # Messages name the feed, not just its place: "feeds[3] (Example News).interval".
        label = next(
            (v.strip() for v in (item.get("name"), item.get("url")) if isinstance(v, str)),
            "",
        )
        if label:
            c.name(key, redact_url(label) if label == item.get("url") else label)
        c.only(item, key, ("url", "name", "tags", "interval", "full_article", "backlog_alerts"))
        url = ""
        if "url" not in item:
            c.fail(f"{key}.url", "missing (every feed needs a url)")
        else:
            url = c.get(
                item,
                key,
                "url",
                lambda v: resolve_feed_url(_string(v), base),
                "an http(s) or file URL, or a local path",
                "",
            )
        feed = Feed(
            url=url,
            name=c.get(item, key, "name", _string, "a non-empty string", _default_name(url)),
            tags=c.get(item, key, "tags", _tags, "an array of strings", ()),
            interval=c.get(
                item, key, "interval", _seconds("feeds.interval"), 'a duration like "15m"', None
            ),
            full_article=c.get(
                item, key, "full_article", _full_article, 'true, false or "auto"', "never"
            ),
            backlog_alerts=c.get(
                item, key, "backlog_alerts", _backlog("feeds.backlog_alerts"), _BACKLOG, None
            ),
        )
        if not url:
            continue
        same = feed_key(url)  # HTTP://Example.org/rss is http://example.org/rss
        if same in seen:
            c.fail(f"{key}.url", f"duplicate of {seen[same]}")
            continue
        seen[same] = c.label(key)
        feeds.append(feed)
    return tuple(feeds)


def _default_name(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or Path(parts.path).stem or url


def _notifiers(c: _Checker, raw: Any) -> dict[str, NotifierSettings]:
    """The notifiers without mistakes (each mistake is recorded in ``c``)."""
    if not isinstance(raw, dict):
        c.fail("notifiers", "expected a table of named notifiers")
        return {}
    out: dict[str, NotifierSettings] = {}
    for name, table in raw.items():
        key = f"notifiers.{name}"
        if not isinstance(table, dict):
            c.fail(key, f"expected a table, got {_show(table)}")
            continue
        kind = table.get("type")
        if kind not in NOTIFIER_TYPES:
            c.fail(f"{key}.type", f"expected one of {', '.join(NOTIFIER_TYPES)}, got {_show(kind)}")
            continue
        secrets = [option for option in table if option in _SECRET_KEYS]
        for option in secrets:
            # Never echo the value: it is a secret put in the wrong place.
            c.fail(
                f"{key}.{option}",
                f"secrets are not read from the config file; "
                f"set {option}_env to the name of an environment variable",
            )
        if secrets:
            continue
        before = len(c.errors)
        settings: NotifierSettings | None
        if kind == "email":
            settings = _email(c, key, name, table)
        elif kind == "webhook":
            settings = _webhook(c, key, name, table)
        elif kind == "console":
            c.only(table, key, ("type",))
            settings = ConsoleSettings(name=name)
        else:
            c.only(table, key, ("type", "url_env"))
            settings = None
            if "url_env" not in table:
                c.fail(f"{key}.url_env", "missing (the environment variable with the URL)")
            else:
                settings = AppriseSettings(
                    name=name, url_env=c.get(table, key, "url_env", _env_name, _ENV, "")
                )
        if settings is not None and len(c.errors) == before:
            out[name] = settings
    return out


_ENV = "the name of an environment variable"


def _env_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.replace("_", "").isalnum():
        raise ValueError
    return raw


def _addresses(raw: Any) -> tuple[str, ...]:
    values = _strings_list(raw)
    if not values or not all("@" in v and "\n" not in v and "\r" not in v for v in values):
        raise ValueError
    return values


def _strings_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    raise ValueError


def _email(c: _Checker, key: str, name: str, table: dict[str, Any]) -> EmailSettings | None:
    c.only(
        table,
        key,
        (
            "type", "host", "port", "security", "username", "password_env", "sender", "to",
            "timeout", "ca_file",
        ),
    )  # fmt: skip
    missing = [required for required in ("host", "sender", "to") if required not in table]
    for required in missing:
        c.fail(f"{key}.{required}", "missing")
    if missing:
        return None
    security: Literal["starttls", "tls", "none"] = c.get(
        table, key, "security", _security, '"starttls", "tls" or "none"', "starttls"
    )
    return EmailSettings(
        name=name,
        host=c.get(table, key, "host", _string, "a host name", ""),
        port=c.get(
            table,
            key,
            "port",
            _count("notifiers.port"),
            "a port number",
            465 if security == "tls" else 587,
        ),
        security=security,
        username=c.get(table, key, "username", _string, "a string", None),
        password_env=c.get(table, key, "password_env", _env_name, _ENV, None),
        sender=c.get(table, key, "sender", lambda v: _addresses(v)[0], "an email address", ""),
        to=c.get(table, key, "to", _addresses, "a list of email addresses", ()),
        timeout=c.get(
            table, key, "timeout", _seconds("notifiers.timeout"), 'a duration like "30s"', 30.0
        ),
        ca_file=c.get(table, key, "ca_file", _string, "a file path", None),
    )


def _webhook(c: _Checker, key: str, name: str, table: dict[str, Any]) -> WebhookSettings:
    c.only(table, key, ("type", "url", "url_env", "secret_env", "format", "timeout"))
    if isinstance(table.get("url"), str):
        remember_url(table["url"])  # a hook URL is a secret: any message shows its endpoint
    if ("url" in table) == ("url_env" in table):
        c.fail(f"{key}.url", "expected exactly one of url and url_env")

    def http_url(raw: Any) -> str:
        url = _string(raw)
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError
        return url

    return WebhookSettings(
        name=name,
        url=c.get(table, key, "url", http_url, "an http(s) URL", None),
        url_env=c.get(table, key, "url_env", _env_name, _ENV, None),
        secret_env=c.get(table, key, "secret_env", _env_name, _ENV, None),
        format=c.get(
            table,
            key,
            "format",
            lambda v: v if v in ("json", "slack", "discord") else _raise(),
            '"json", "slack" or "discord"',
            "json",
        ),
        timeout=c.get(
            table, key, "timeout", _seconds("notifiers.timeout"), 'a duration like "15s"', 15.0
        ),
    )


def _raise() -> Any:
    raise ValueError


def _security(raw: Any) -> Literal["starttls", "tls", "none"]:
    if raw == "starttls":
        return "starttls"
    if raw == "tls":
        return "tls"
    if raw == "none":
        return "none"
    raise ValueError
