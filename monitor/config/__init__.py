"""Loading and validating ``config.toml``.

The whole file is checked on load and every mistake is reported at once, each with
the file, the line and column of its key, the key path and what was expected, e.g.
``config.toml:12:1: feeds[3] (Example News).interval: expected a duration like "15m",
got "soon"``. Secrets never live in the file: notifiers name environment variables.

Each key is declared once, on the field of the settings dataclass that holds it (see
``monitor.config.schema``); what involves several keys is checked here, explicitly.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from monitor import __version__
from monitor.config.schema import (
    Checker,
    Schema,
    Setting,
    Suggestion,
    read,
    required,
    schema,
    section,
    setting,
    show,
)
from monitor.config.tomlmap import decode_error_position
from monitor.config.values import (
    BACKLOG,
    ENV,
    HEADERS,
    PROXY,
    Backlog,
    Bounded,
    Count,
    Seconds,
    Size,
    address,
    addresses,
    archive_url,
    array,
    choice,
    env_name,
    flag,
    full_article,
    header_name,
    header_value,
    headers_table,
    http_url,
    ip_address,
    place_archive,
    proxy_url,
    resolve_feed_url,
    secret_header,
    string,
    suggest_url,
    tags,
    template,
    timezone_name,
)
from monitor.errors import ConfigError
from monitor.netguard import parse_allow_entry
from monitor.redact import redact_url, remember_url
from monitor.types import Feed
from monitor.urls import feed_key

__all__ = [
    "DEFAULT_USER_AGENT",
    "LIMITS",
    "NOTIFIER_TYPES",
    "TABLES",
    "URL_ENV_PREFIX",
    "AppriseSettings",
    "ArticleSettings",
    "Config",
    "ConsoleSettings",
    "DeliverySettings",
    "EmailSettings",
    "FetchSettings",
    "NotifierSettings",
    "ScheduleSettings",
    "ServiceSettings",
    "Suggestion",
    "WebhookSettings",
    "archive_url_despite_errors",
    "load_config",
    "parse_config",
    "parse_config_text",
    "resolve_feed_url",
    "salvage_setting",
    "suggest_url",
]

DEFAULT_USER_AGENT = (
    f"news-monitor/{__version__} (+https://github.com/news-monitor/news-monitor; feed poller)"
)
NOTIFIER_TYPES = ("email", "webhook", "apprise", "console")
# Keys that would hold a secret in clear text; the *_env form is required instead.
_SECRET_KEYS = ("password", "secret", "token", "api_key")

_DAY = 86400.0
_15M = 'a duration like "15m"'
_30S = 'a duration like "30s"'
_TEMPLATE = "a Jinja2 template"
_5S = 'a duration like "5s"'

Security = Literal["starttls", "tls", "none"]
LogFormat = Literal["plain", "json"]
HookFormat = Literal["json", "slack", "discord"]


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchSettings:
    # total deadline per request, whatever the server trickles
    timeout: float = setting(30.0, Seconds(1, 3600), _30S)
    connect_timeout: float = setting(10.0, Seconds(1, 3600), _30S)
    read_timeout: float = setting(15.0, Seconds(1, 3600), _30S)
    max_bytes: int = setting(10 * 1024 * 1024, Size(1024, 1024**3), 'a size like "10MB"')
    concurrency: int = setting(16, Count(1, 1024), "a positive integer")
    per_host: int = setting(4, Count(1, 256), "a positive integer")
    max_redirects: int = setting(5, Count(0, 20), "an integer")
    user_agent: str = setting(DEFAULT_USER_AGENT, string, "a string")
    # least time between two requests to one host
    host_spacing: float = setting(0.0, Seconds(0.001, 3600, zero=True), 'a duration like "500ms"')
    # feeds are fetched through this forward proxy (CONNECT for https); none by default,
    # and never one from the environment's HTTP_PROXY
    proxy: str | None = setting(None, proxy_url, PROXY)
    # holds the proxy URL instead, credentials and all; wins over proxy
    proxy_env: str | None = setting(None, env_name, ENV)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleSettings:
    default_interval: float = setting(900.0, Seconds(1, 30 * _DAY), _15M)
    min_interval: float = setting(60.0, Seconds(1, 30 * _DAY), _15M)
    max_interval: float = setting(86400.0, Seconds(1, 30 * _DAY), _15M)
    max_backoff: float = setting(6 * 3600.0, Seconds(1, 30 * _DAY), _15M)
    # feeds without an interval may be polled faster when busy
    adaptive: bool = setting(False, flag, "true or false")
    workers: int = setting(0, Count(0, 256), "an integer")  # parse processes; 0: one per CPU
    # a parse or extraction in a worker is abandoned after this
    parse_timeout: float = setting(60.0, Seconds(0.1, 3600), 'a duration like "60s"')
    # IANA name: digest times of day, and times the commands show
    timezone: str = setting("UTC", timezone_name, 'an IANA time zone name like "Europe/Berlin"')
    # a new feed's first poll alerts items this recent (inf: all)
    backlog_alerts: float = setting(86400.0, Backlog(1, 3650 * _DAY), BACKLOG)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # validated on load; zoneinfo caches instances


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailSettings:
    name: str
    type: Literal["email"] = setting("email", choice(Literal["email"]), '"email"')
    host: str = field(metadata=required(string, "a host name", fallback=""))
    port: int = setting(587, Count(1, 65535), "a port number")  # 465 with security = "tls"
    security: Security = setting("starttls", choice(Security), '"starttls", "tls" or "none"')
    username: str | None = setting(None, string, "a string")
    password_env: str | None = setting(None, env_name, ENV)  # holds the password
    sender: str = field(metadata=required(address, "an email address", fallback=""))
    to: tuple[str, ...] = field(
        metadata=required(addresses, "a list of email addresses", fallback=())
    )
    timeout: float = setting(30.0, Seconds(1, 600), _30S)
    # extra CA certificates, for a relay with a private CA
    ca_file: str | None = setting(None, string, "a file path")
    # message templates (docs: "Message templates"); none: the built-in rendering
    subject_template: str | None = setting(None, template, _TEMPLATE)
    body_template: str | None = setting(None, template, _TEMPLATE)


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSettings:
    name: str
    type: Literal["webhook"] = setting("webhook", choice(Literal["webhook"]), '"webhook"')
    url: str | None = setting(None, http_url, "an http(s) URL")
    # the URL itself is a secret for Slack and Discord hooks
    url_env: str | None = setting(None, env_name, ENV)
    secret_env: str | None = setting(None, env_name, ENV)  # Standard Webhooks: "whsec_" + base64
    format: HookFormat = setting("json", choice(HookFormat), '"json", "slack" or "discord"')
    timeout: float = setting(15.0, Seconds(1, 600), 'a duration like "15s"')
    # message templates (docs: "Message templates"); none: the built-in rendering
    subject_template: str | None = setting(None, template, _TEMPLATE)
    body_template: str | None = setting(None, template, _TEMPLATE)


@dataclass(frozen=True, kw_only=True, slots=True)
class AppriseSettings:
    name: str
    type: Literal["apprise"] = setting("apprise", choice(Literal["apprise"]), '"apprise"')
    # Apprise URLs carry credentials, so they come from the environment
    url_env: str = field(
        metadata=required(
            env_name, ENV, missing="missing (the environment variable with the URL)", fallback=""
        )
    )
    # message templates (docs: "Message templates"); none: the built-in rendering
    subject_template: str | None = setting(None, template, _TEMPLATE)
    body_template: str | None = setting(None, template, _TEMPLATE)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsoleSettings:
    """Alerts printed to standard output: for trying the monitor out, and container logs."""

    name: str
    type: Literal["console"] = setting("console", choice(Literal["console"]), '"console"')
    # message templates (docs: "Message templates"); none: the built-in rendering
    subject_template: str | None = setting(None, template, _TEMPLATE)
    body_template: str | None = setting(None, template, _TEMPLATE)


NotifierSettings = EmailSettings | WebhookSettings | AppriseSettings | ConsoleSettings


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceSettings:
    """How ``monitor run`` behaves."""

    tick: float = setting(1.0, Seconds(0.1, 3600), _5S)  # how often due feeds are claimed
    # outbox delivery (it also runs right after new alerts)
    deliver_every: float = setting(5.0, Seconds(0.1, 3600), _5S)
    # config and rule files are checked for changes this often
    reload_every: float = setting(2.0, Seconds(0.1, 3600), _5S)
    grace: float = setting(20.0, Seconds(1, 3600), _5S)  # on SIGTERM, time to finish in flight
    # Gets one alert when a feed fails for too long. Which names are valid depends on
    # [notifiers]: _service binds the check when reading.
    health_notifier: str | None = setting(None, string, "the name of a notifier")
    failing_after: float = setting(6 * 3600.0, Seconds(1, 365 * _DAY), _5S)
    # /healthz and /metrics on metrics_bind:metrics_port (read when the service starts)
    metrics_port: int | None = setting(None, Count(1, 65535), "a port number")
    # loopback by default; "0.0.0.0" for a scraper in another container
    metrics_bind: str = setting(
        "127.0.0.1", ip_address, 'an IP address like "127.0.0.1", "0.0.0.0" or "::"'
    )
    log_format: LogFormat = setting("plain", choice(LogFormat), '"plain" or "json"')


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliverySettings:
    max_attempts: int = setting(12, Count(1, 1000), "an integer")
    # an alert still undelivered after this is dead-lettered
    max_age: float = setting(2 * 86400.0, Seconds(1, 365 * _DAY), _15M)
    # first retry delay; doubles per attempt, with jitter
    backoff: float = setting(30.0, Seconds(0.01, _DAY), _15M)
    max_backoff: float = setting(3600.0, Seconds(0.01, 30 * _DAY), _15M)


@dataclass(frozen=True, kw_only=True, slots=True)
class ArticleSettings:
    """Article pages come from feed URLs: only public addresses, plus these intranet sources."""

    # "intranet.example", "*.corp.example", "10.1.0.0/16", "h:8080"; each entry is checked
    # by _articles, which names its place
    allow: tuple[str, ...] = setting((), array, "an array of strings")
    # full_article = "auto" fetches items with less text than this
    short_words: int = setting(150, Count(0, 100_000), "a positive integer")


@dataclass(frozen=True, kw_only=True, slots=True)
class Retention:
    """How long stories are kept ([archive] keep and keep_matched); None: for ever."""

    keep: float | None = None
    keep_matched: float | None = None  # for stories that matched a topic

    def cutoffs(self, now: datetime, keep: float | None = None) -> tuple[datetime, datetime | None]:
        """(before, matched_before) for ``Archive.prune`` at ``now``; ``keep`` instead of
        the configured one (``monitor prune --older-than``). ValueError without either."""
        keep = self.keep if keep is None else keep
        if keep is None:
            raise ValueError("no retention: [archive] keep is not set")
        matched = self.keep_matched
        return now - timedelta(seconds=keep), (
            None if matched is None else now - timedelta(seconds=max(matched, keep))
        )


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
    retention: Retention = Retention()

    @property
    def base_dir(self) -> Path:
        return self.path.parent


# Tables whose keys land elsewhere than in a settings dataclass of their own: Config's
# archive_url and rules_path (beside the config file), and types.Feed.
_ARCHIVE: Schema = {
    "url": Setting(
        archive_url,
        'a URL like "sqlite:///archive/monitor.db" or "postgresql://..."',
        "sqlite:///archive/monitor.db",
    ),
    # None: stories are kept for ever; matched ones by keep_matched, if that is set.
    "keep": Setting(Seconds(_DAY, 100 * 365 * _DAY), 'a duration like "180d"'),
    "keep_matched": Setting(Seconds(_DAY, 100 * 365 * _DAY), 'a duration like "730d"'),
}
_RULES: Schema = {"path": Setting(string, "a folder path", "rules")}
_FEED: Schema = {
    # Resolved against the config's folder: _feeds binds that.
    "url": Setting(
        string,
        "an http(s) or file URL, or a local path",
        "",
        missing="missing (every feed needs a url)",
    ),
    "name": Setting(string, "a non-empty string"),  # None: _feeds names it after its URL
    "tags": Setting(tags, "an array of strings", ()),
    "interval": Setting(Seconds(1, 30 * _DAY), _15M),
    "full_article": Setting(full_article, 'true, false or "auto"', "never"),
    "backlog_alerts": Setting(Backlog(1, 3650 * _DAY), BACKLOG),
    # This feed's proxy, instead of [fetch]'s; proxy_env wins over proxy.
    "proxy": Setting(proxy_url, PROXY),
    "proxy_env": Setting(env_name, ENV),
    # Each value a string, or { env = "NAME" } (required for credential-like names):
    # _feed_headers checks each one and names its place.
    "headers": Setting(headers_table, HEADERS, ()),
    "user_agent": Setting(header_value, "a string"),
    "username": Setting(string, "a string"),  # with password_env: Basic authentication
    "password_env": Setting(env_name, ENV),
    # The URL is this variable's value; the feed is known as "env:NAME" (see _feeds).
    "url_env": Setting(env_name, ENV),
    # Which feed a page at url links is polled (docs: "Feed discovery").
    "discover": Setting(string, "the title or URL of a feed the page links"),
}
URL_ENV_PREFIX = "env:"
_NOTIFIERS: Mapping[str, type[NotifierSettings]] = {
    "email": EmailSettings,
    "webhook": WebhookSettings,
    "apprise": AppriseSettings,
    "console": ConsoleSettings,
}

# Every table of the file and its keys, top-level tables in the order messages list them;
# "notifiers.email" stands for each notifier of that type, "feeds" for each feed.
TABLES: Mapping[str, Schema] = MappingProxyType(
    {
        "archive": _ARCHIVE,
        "rules": _RULES,
        "feeds": _FEED,
        **{f"notifiers.{kind}": schema(cls) for kind, cls in _NOTIFIERS.items()},
        "fetch": schema(FetchSettings),
        "schedule": schema(ScheduleSettings),
        "delivery": schema(DeliverySettings),
        "service": schema(ServiceSettings),
        "articles": schema(ArticleSettings),
    }
)
_TOP = tuple(dict.fromkeys(name.split(".")[0] for name in TABLES))


def _limits() -> Mapping[str, tuple[float, float]]:
    """The least and most of each number, as docs/config.md lists them: "notifiers.timeout"
    stands for the timeout of every notifier, "feeds.interval" for every feed's."""
    limits: dict[str, tuple[float, float]] = {}
    for table, keys in TABLES.items():
        for name, spec in keys.items():
            if isinstance(spec.convert, Bounded):
                limits[f"{table.split('.')[0]}.{name}"] = (spec.convert.least, spec.convert.most)
    return MappingProxyType(limits)


LIMITS = _limits()


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
    found = data.get(table)
    return found.get(key) if isinstance(found, dict) else None


def archive_url_despite_errors(path: Path) -> tuple[str, bool]:
    """The archive a config file names, read even when the file does not load (and True);
    else the default one beside it (and False)."""
    base = path.absolute().parent
    try:
        return place_archive(archive_url(salvage_setting(path, "archive", "url")), base), True
    except (TypeError, ValueError):
        return place_archive(_ARCHIVE["url"].default, base), False


def parse_config(data: Mapping[str, Any], path: Path, *, text: str = "") -> Config:
    """Validate parsed TOML; ``text``, the file's text, places each mistake in it."""
    c = Checker(path, text)
    # absolute, not resolved: a config.toml that is a symlink (a ConfigMap's ..data swap)
    # keeps its rules and archive beside the link, not inside the versioned folder
    path = path.absolute()
    base = path.parent
    c.only(data, "", _TOP)
    archive = read(c, c.table(data, "archive", tuple(_ARCHIVE)), "archive", _ARCHIVE)
    rules = read(c, c.table(data, "rules", tuple(_RULES)), "rules", _RULES)
    keep, keep_matched = archive["keep"], archive["keep_matched"]
    if keep is not None and keep_matched is not None and keep_matched < keep:
        c.fail("archive.keep_matched", "must not be shorter than archive.keep")
    retention = Retention(keep=keep, keep_matched=keep_matched)
    fetch = section(c, data, "fetch", FetchSettings)
    schedule = section(c, data, "schedule", ScheduleSettings)
    if schedule.min_interval > schedule.max_interval:
        c.fail("schedule.min_interval", "must not be larger than schedule.max_interval")
    delivery = section(c, data, "delivery", DeliverySettings)
    notifiers = _notifiers(c, data.get("notifiers", {}))
    service = _service(c, data, notifiers)
    feeds = _feeds(c, data.get("feeds", []), base)
    articles = _articles(c, data)

    c.check()
    return Config(
        path=path,
        archive_url=place_archive(archive["url"], base),
        rules_path=base / rules["path"],
        feeds=feeds,
        notifiers=MappingProxyType(notifiers),
        fetch=fetch,
        schedule=schedule,
        delivery=delivery,
        service=service,
        articles=articles,
        retention=retention,
    )


def _articles(c: Checker, data: Mapping[str, Any]) -> ArticleSettings:
    keys = TABLES["articles"]
    table = c.table(data, "articles", tuple(keys))
    allow = c.setting(table, "articles", "allow", keys["allow"])
    for i, entry in enumerate(allow):
        try:
            if not isinstance(entry, str):
                raise ValueError("not a string")
            parse_allow_entry(entry)
        except ValueError as exc:
            c.fail(
                f"articles.allow[{i}]",
                'expected a host name, address or network like "intranet.example" or '
                f'"10.1.0.0/16", got {show(entry)} ({exc})',
            )
    return ArticleSettings(**read(c, table, "articles", keys, given={"allow": allow}))


def _service(
    c: Checker, data: Mapping[str, Any], notifiers: Mapping[str, NotifierSettings]
) -> ServiceSettings:
    keys = TABLES["service"]
    table = c.table(data, "service", tuple(keys))

    # A notifier with mistakes of its own is reported there, not again here.
    declared = data.get("notifiers")
    named = set(notifiers) | (set(declared) if isinstance(declared, dict) else set())

    def notifier_name(raw: Any) -> str:
        if not isinstance(raw, str) or raw not in named:
            raise ValueError
        return str(raw)

    listed = ", ".join(notifiers) or "none configured"
    health = Setting(notifier_name, f"the name of a notifier ({listed})")
    return ServiceSettings(**read(c, table, "service", keys, bound={"health_notifier": health}))


def _feeds(c: Checker, raw: Any, base: Path) -> tuple[Feed, ...]:
    if not isinstance(raw, list):
        c.fail("feeds", "expected an array of [[feeds]] tables")
        return ()
    url_here = replace(_FEED["url"], convert=lambda v: resolve_feed_url(string(v), base))
    feeds: list[Feed] = []
    seen: dict[str, str] = {}  # a feed URL as compared -> the feed that has it
    for i, item in enumerate(raw):
        key = f"feeds[{i}]"
        if not isinstance(item, dict):
            c.fail(key, f"expected a table, got {show(item)}")
            continue
        # Messages name the feed, not just its place: "feeds[3] (Example News).interval".
        label = next(
            (v.strip() for v in (item.get("name"), item.get("url")) if isinstance(v, str)),
            "",
        )
        if label:
            c.name(key, redact_url(label) if label == item.get("url") else label)
        c.only({k: v for k, v in item.items() if k not in _SECRET_KEYS}, key, tuple(_FEED))
        for option in (o for o in item if o in _SECRET_KEYS):
            # Never echo the value: it is a secret put in the wrong place.
            c.fail(
                f"{key}.{option}",
                "secrets are not read from the config file; "
                + ("set password_env" if option == "password" else "use headers or url_env")
                + " with the name of an environment variable",
            )
        given: dict[str, Any] = {}
        if "url_env" in item:
            if "url" in item:
                c.fail(f"{key}.url", "expected exactly one of url and url_env")
            variable = c.setting(item, key, "url_env", _FEED["url_env"])
            given["url"] = f"{URL_ENV_PREFIX}{variable}" if variable else ""
        else:
            c.missing(item, key, _FEED)
        if ("username" in item) != ("password_env" in item):
            c.fail(f"{key}.username", "expected both username and password_env, or neither")
        elif "username" in item and isinstance(item.get("url"), str) and "@" in item["url"]:
            c.fail(f"{key}.username", "the url has credentials of its own: keep one of them")
        values = read(c, item, key, _FEED, given=given, bound={"url": url_here})
        values["headers"], values["env_headers"] = _feed_headers(c, item, key)
        url = values["url"]
        if values["name"] is None:
            values["name"] = values["url_env"] or _default_name(url)
        feed = Feed(**values)
        if not url:
            continue
        same = feed_key(url)  # HTTP://Example.org/rss is http://example.org/rss
        if same in seen:
            c.fail(f"{key}.url", f"duplicate of {seen[same]}")
            continue
        seen[same] = c.label(key)
        feeds.append(feed)
    return tuple(feeds)


def _feed_headers(
    c: Checker, item: Mapping[str, Any], key: str
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """A feed's headers: the (name, value) pairs and the (name, variable) pairs."""
    raw = item.get("headers")
    if not isinstance(raw, dict):
        return (), ()  # absent, or recorded as wrong by read
    plain: list[tuple[str, str]] = []
    from_env: list[tuple[str, str]] = []
    for name, value in raw.items():
        where = f"{key}.headers.{name}"
        if not header_name(name):
            c.fail(where, "not a header name a feed may set (the fetcher sends that one itself)")
        elif isinstance(value, dict):
            variable = value.get("env")
            if set(value) != {"env"} or not isinstance(variable, str):
                c.fail(where, 'expected a string or { env = "NAME" }, got a table')
            else:
                try:
                    from_env.append((name, env_name(variable)))
                except ValueError:
                    c.fail(f"{where}.env", f"expected {ENV}, got {show(variable)}")
        elif secret_header(name):
            # Never echo the value: it is a secret put in the wrong place.
            c.fail(
                where,
                "secrets are not read from the config file; "
                'write { env = "NAME" } with the name of an environment variable',
            )
        else:
            try:
                plain.append((name, header_value(value)))
            except ValueError:
                c.fail(where, f"expected a string on one line, got {show(value)}")
    return tuple(plain), tuple(from_env)


def _default_name(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or Path(parts.path).stem or url


def _notifiers(c: Checker, raw: Any) -> dict[str, NotifierSettings]:
    """The notifiers without mistakes (each mistake is recorded in ``c``)."""
    if not isinstance(raw, dict):
        c.fail("notifiers", "expected a table of named notifiers")
        return {}
    out: dict[str, NotifierSettings] = {}
    for name, table in raw.items():
        key = f"notifiers.{name}"
        if not isinstance(table, dict):
            c.fail(key, f"expected a table, got {show(table)}")
            continue
        kind = table.get("type")
        if kind not in NOTIFIER_TYPES:
            c.fail(f"{key}.type", f"expected one of {', '.join(NOTIFIER_TYPES)}, got {show(kind)}")
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
        settings = _notifier(c, key, name, table, kind)
        if settings is not None and len(c.errors) == before:
            out[name] = settings
    return out


def _notifier(
    c: Checker, key: str, name: str, table: dict[str, Any], kind: str
) -> NotifierSettings | None:
    keys = TABLES[f"notifiers.{kind}"]
    c.only(table, key, tuple(keys))
    if kind == "webhook":
        if isinstance(table.get("url"), str):
            remember_url(table["url"])  # a hook URL is a secret: any message shows its endpoint
        if ("url" in table) == ("url_env" in table):
            c.fail(f"{key}.url", "expected exactly one of url and url_env")
    if c.missing(table, key, keys):
        return None
    given: dict[str, Any] = {"name": name}
    if kind == "email":  # security first: the port's default follows it
        given["security"] = c.setting(table, key, "security", keys["security"])
    values = read(c, table, key, keys, given=given)
    if kind == "email" and "port" not in table and values["security"] == "tls":
        values["port"] = 465
    return _NOTIFIERS[kind](**values)
