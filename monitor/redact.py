"""Secrets and credentials in URLs are masked wherever text is shown or logged.

Two redactions for URLs:

- ``redact_url`` for URLs that are shown on purpose (feeds in listings, URLs in errors
  and log lines): the URL stays recognisable, with what would let anyone in masked: a
  password (or a user name standing alone, which is often a token), the values of
  query and fragment parameters with secret-looking names (``token``, ``key``, ``sig``,
  ``password``, ``auth``...), the path of known secret-bearing webhook URLs (Slack,
  Discord, Teams, Telegram bots, any ``/hooks/`` or ``/webhooks/`` path) and path
  segments that look like tokens (long runs of mixed letters and digits, UUIDs).
- ``redact_endpoint`` for notifier URLs, which are secrets whole: scheme, host and the
  first path segment only.

Secrets read with ``monitor.config.secrets.read_secret`` and notifier URLs are also remembered
(``remember_secret``), so ``redact_text``, which every log line passes through, masks
them wherever they turn up, also in a form the rules above would not recognise.
"""

from __future__ import annotations

import re
import threading

MASK = "***"

# A parameter whose name contains one of these (or is one of the short names) has its
# value masked; masking a harmless one (``keyword``, ``author``) costs little.
_SECRET_PARTS = (
    "token", "secret", "passw", "pwd", "signature", "auth", "credential", "session", "key",
    "jwt", "bearer", "ticket",
)  # fmt: skip
_SECRET_NAMES = frozenset({"sig", "pass", "pw", "code", "hash", "sid", "otp"})
# Path segments after which everything is the hook's secret, on any host.
_HOOK_SEGMENTS = frozenset({"hooks", "webhooks", "webhook", "webhookb2"})
_SLACK_LIKE = ("hooks.slack.com", "webhook.office.com", "hooks.zapier.com")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_TOKEN_PIECE = re.compile(r"[A-Za-z0-9]{16,}")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>\"'`]+", re.IGNORECASE)
_MIN_REMEMBERED = 6  # shorter values would mask ordinary words

_remembered: dict[str, str] = {}  # secret value -> what is shown instead
_remembered_lock = threading.Lock()


def remember_secret(value: str, shown: str = MASK) -> None:
    """Mask ``value`` as ``shown`` wherever ``redact_text`` meets it from now on."""
    value = value.strip()
    if len(value) >= _MIN_REMEMBERED:
        with _remembered_lock:
            _remembered.setdefault(value, shown)


def remember_url(url: str) -> None:
    """Mask a notifier URL, and its path with its query, wherever they turn up."""
    shown = redact_endpoint(url)
    if MASK not in shown and shown.rstrip("/") == url.strip().rstrip("/"):
        return  # nothing hidden: remembering it would only rewrite longer URLs it starts
    remember_secret(url, shown)
    rest = url.partition("://")[2]
    slash = rest.find("/")
    if slash >= 0 and shown.endswith(MASK):  # what the shown form hides, alone too
        remember_secret(rest[slash:], "/" + MASK)


def redact_text(text: str) -> str:
    """``text`` with remembered secrets masked and every URL in it passed through
    ``redact_url``: for log lines and messages that may quote anything."""
    with _remembered_lock:
        known = sorted(_remembered.items(), key=lambda item: len(item[0]), reverse=True)
    for secret, shown in known:
        if secret in text:
            text = text.replace(secret, shown)
    if "://" not in text:
        return text
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    # Punctuation after a URL in prose ends the sentence, not the URL: "(see http://x/a)."
    url = match.group()
    core = url.rstrip(".,;:!?)]}")
    return redact_url(core) + url[len(core) :]


def redact_endpoint(url: str) -> str:
    """A notifier URL safe to show: scheme, host and the first path segment; the rest masked."""
    scheme, authority, path, query, fragment = _split(url)
    if authority is None:
        return MASK
    host = authority.rpartition("@")[2]
    segments = [s for s in path.split("/") if s]
    first = _redact_path(host.lower(), "/" + segments[0]) if segments else ""
    if len(segments) > 1 or query or fragment:
        first += "/" + MASK
    return f"{scheme}://{host}{first}"


def redact_url(url: str) -> str:
    """``url`` as it may be shown: credentials, secret parameters and token paths masked."""
    scheme, authority, path, query, fragment = _split(url)
    if authority is None:  # not scheme://...: a local path or something odd
        return _with_params(path, query, fragment)
    host = authority
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        authority = f"{user}:{MASK}@{host}" if colon and user else f"{MASK}@{host}"
    path = _redact_path(host.lower(), path)
    return _with_params(f"{scheme}://{authority}{path}", query, fragment)


def _split(url: str) -> tuple[str, str | None, str, str | None, str | None]:
    """(scheme, authority, path, query, fragment); authority None without ``://``.

    Done by hand rather than with urlsplit, which refuses some URLs (a bad port, an
    unclosed bracket) that must still be shown without their secrets.
    """
    rest, hash_, fragment = url.partition("#")
    rest, qmark, query = rest.partition("?")
    scheme, sep, after = rest.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return "", None, rest, query if qmark else None, fragment if hash_ else None
    slash = after.find("/")
    authority, path = (after, "") if slash < 0 else (after[:slash], after[slash:])
    return scheme, authority, path, query if qmark else None, fragment if hash_ else None


def _with_params(start: str, query: str | None, fragment: str | None) -> str:
    out = start
    if query is not None:
        out += "?" + _redact_params(query)
    if fragment is not None:
        out += "#" + (_redact_params(fragment) if "=" in fragment else fragment)
    return out


def _secret_name(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


def _redact_params(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if eq and value and _secret_name(name) else pair)
    return "&".join(pairs)


def _token_like(segment: str) -> bool:
    """A path segment that is probably a key: a UUID, or a long run of letters mixed
    with digits (words and dates in readable paths are shorter or unmixed)."""
    if _UUID.search(segment):
        return True
    for piece in _TOKEN_PIECE.findall(segment):
        if any(c.isdigit() for c in piece) and any(c.isalpha() for c in piece):
            return True
    return False


def _redact_path(host: str, path: str) -> str:
    host = re.sub(r":\d*$", "", host)  # without its port
    segments = path.split("/")
    # On hook hosts the secret is all after the first segment; elsewhere, after a marker.
    first = next((i for i, s in enumerate(segments) if s), len(segments))
    out: list[str] = []
    for i, segment in enumerate(segments):
        lowered = segment.lower()
        telegram_bot = host == "api.telegram.org" and lowered.startswith("bot")
        out.append(MASK if telegram_bot or _token_like(segment) else segment)
        marker = lowered in _HOOK_SEGMENTS or (host.endswith(_SLACK_LIKE) and i == first)
        if marker and any(segments[i + 1 :]):
            out.append(MASK)
            break
    return "/".join(out)
