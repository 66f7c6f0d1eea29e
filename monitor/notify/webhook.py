"""Webhook notifier: a signed HTTP POST of a versioned payload.

Signing follows Standard Webhooks: ``webhook-id`` (the message id, stable across
retries, so receivers can drop duplicates), ``webhook-timestamp`` (Unix seconds)
and ``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "id.timestamp.body")),
where the key is the base64 part of a ``whsec_...`` secret.

Redirects are never followed (a moved webhook is a configuration change, and a
redirect must not carry the payload elsewhere); 410 Gone disables the notifier.
The URL appears in errors and logs only through ``redact_endpoint`` (scheme, host and
first path segment): Slack and Discord hook URLs carry their token in the path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from urllib.parse import urlsplit

import httpx

from monitor.clock import Clock, utc_now
from monitor.config import DEFAULT_USER_AGENT, WebhookSettings
from monitor.errors import ConfigError, NotifierGone, NotifyError, PermanentFailure
from monitor.headers import parse_retry_after, server_now
from monitor.notify.message import Message
from monitor.notify.payload import one_line, render
from monitor.notify.render import clean_header
from monitor.notify.template import Templates
from monitor.redact import redact_endpoint, remember_url

log = logging.getLogger(__name__)

MAX_RESPONSE = 64 * 1024  # bytes of a response body read, for the error message
RETRYABLE_4XX = frozenset({408, 425, 429})
SUBJECT_LIMIT = 200  # characters of a templated subject (the JSON title)


def secret_key(secret: str, *, key: str = "secret_env") -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64; the prefix optional).

    ``key`` names the config key for the error, which never contains the secret.
    """
    encoded = secret.strip().removeprefix("whsec_")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise ConfigError('the webhook secret is not "whsec_" followed by base64', key=key)
    return raw


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for ``body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class WebhookNotifier:
    """Sends messages as JSON (v1), Slack or Discord payloads to one URL."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        url: str,
        secret: str | None,
        clock: Clock | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.name = settings.name
        self.settings = settings
        where = f"notifiers.{settings.name}"
        _check_url(url, f"{where}.{'url_env' if settings.url_env else 'url'}")
        self._url = url
        self._shown = redact_endpoint(url)
        remember_url(url)  # whatever quotes it (httpx at -vv, a traceback) shows it masked
        self._key = None if secret is None else secret_key(secret, key=f"{where}.secret_env")
        self._clock: Clock = clock or utc_now
        self._templates = Templates.compile(
            settings.name, settings.subject_template, settings.body_template
        )
        self._client = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            timeout=settings.timeout,
            # identity: the few bytes read back for an error message are never a zip bomb
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        )

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.name!r}, {self._shown!r}, {self.settings.format})"

    def __enter__(self) -> WebhookNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def send(self, message: Message) -> None:
        if not message.id.isascii() or not message.id.isprintable() or not message.id:
            raise PermanentFailure(self.name, "the message id is not a valid header value")
        t = self._templates
        templated = t.render_subject(message)
        subject = (templated and clean_header(templated, SUBJECT_LIMIT)) or None
        body = render(message, self.settings.format, (subject, t.render_body(message)))
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
        }
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, message.id, timestamp, body)
        try:
            with self._client.stream("POST", self._url, content=body, headers=headers) as resp:
                text = self._read_some(resp)
        except httpx.TimeoutException as exc:
            raise NotifyError(self.name, f"POST {self._shown}: timed out") from exc
        except httpx.HTTPError as exc:
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise NotifyError(self.name, f"POST {self._shown}: {reason}") from exc
        self._outcome(resp, text)
        log.debug("webhook %s: %s delivered (HTTP %d)", self.name, message.id, resp.status_code)

    def _read_some(self, response: httpx.Response) -> str:
        data = b""
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= MAX_RESPONSE:
                break
        return data[:MAX_RESPONSE].decode("utf-8", "replace")

    def _outcome(self, response: httpx.Response, text: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        what = f"POST {self._shown}: HTTP {status}"
        detail = self._scrub(one_line(text))[:200]
        if 300 <= status < 400:
            location = response.headers.get("location")
            to = f" to {redact_endpoint(location)}" if location else ""
            raise NotifyError(
                self.name, f"{what}: redirect{to}; redirects are not followed (update the URL)"
            )
        if detail:
            what += f": {detail}"
        if status == 410:
            raise NotifierGone(self.name, f"{what} (the webhook was removed; notifier disabled)")
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            raise PermanentFailure(self.name, what)
        delay = parse_retry_after(
            response.headers.get("retry-after"),
            server_now(response.headers.get("date"), self._clock()),
        )
        if delay is not None:
            what += f" (Retry-After {delay:g}s)"
        raise NotifyError(self.name, what, retry_after=delay)

    def _scrub(self, text: str) -> str:
        """``text`` with the URL, its path and query replaced by the redacted form."""
        parts = urlsplit(self._url)
        for secret in (self._url, parts.path + ("?" + parts.query if parts.query else "")):
            if len(secret) > 1:
                text = text.replace(secret, self._shown)
        return text


def _check_url(url: str, key: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port
        httpx.URL(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except (ValueError, httpx.InvalidURL):
        ok = False
    if not ok:
        raise ConfigError(f"not an http(s) URL: {redact_endpoint(url)}", key=key)
