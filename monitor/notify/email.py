"""The email notifier: one SMTP connection per message, text + HTML alternative parts.

Delivery outcomes map onto the notify errors the outbox understands:

- no connection, a timeout, a 4xx reply, a lost connection before the message was
  sent: ``NotifyError`` (retry later);
- a 5xx reply (bad credentials, every recipient refused, message rejected), or a
  configuration that can never work: ``PermanentFailure``;
- the connection lost or timed out after the message content was sent but before
  the server's final reply: ``AmbiguousDelivery``. The retry carries the same
  Message-ID, so a receiver that deduplicates shows the message once.

With ``security = "starttls"`` the session stops unless the server offers STARTTLS
and the upgrade succeeds: nothing, least of all the password, goes out in clear.
The password never appears in an error message.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import smtplib
import ssl
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal

from monitor.clock import utc_now
from monitor.config import EmailSettings
from monitor.errors import AmbiguousDelivery, NotifyError, PermanentFailure
from monitor.notify.clean import clean_message
from monitor.notify.message import Message
from monitor.notify.render import clean_header, render_html, render_text, text_as_html, truncate
from monitor.notify.template import Templates

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 200
_REASON_LIMIT = 300
_SAFE_ID = re.compile(r"[0-9a-z][0-9a-z._-]{0,127}")
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")

Stage = Literal["connect", "tls", "login", "envelope", "data", "sent"]


def message_id(message: Message) -> str:
    """``<id@news-monitor>``, the same for every attempt at the same message."""
    key = message.id
    if not _SAFE_ID.fullmatch(key):
        key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"<{key}@news-monitor>"


def header_text(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """An unstructured header value that the email package will keep as written.

    Besides ``clean_header``: Python's header parser decodes RFC 2047 encoded words
    in values assigned to a message, so ``=?utf-8?q?=0D=0AX-Evil:_1?=`` in a
    headline would come back out as a line break and an extra header. A zero-width
    space after each ``=`` that precedes ``?`` keeps such text literal.
    """
    # Cut after guarding: each guard adds a character, which could take it past the limit.
    guarded = clean_header(text, max(len(text), 1)).replace("=?", "=\u200b?")
    return truncate(guarded, limit)


def compose(
    message: Message,
    settings: EmailSettings,
    *,
    date: datetime,
    templates: Templates | None = None,
) -> EmailMessage:
    """The email for ``message``: exactly these headers, a text and an HTML part.

    With a ``body_template`` the HTML part is that text, escaped, so both parts agree.
    """
    message = clean_message(message)
    subject = templates.render_subject(message) if templates else None
    body = templates.render_body(message) if templates else None
    mail = EmailMessage(policy=policy.SMTP)
    mail["Subject"] = (
        (subject and header_text(subject)) or header_text(message.subject) or "(no subject)"
    )
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.to)
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = message_id(message)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-News-Monitor-Kind"] = message.kind
    topic = header_text(message.topic)
    if topic:
        mail["X-News-Monitor-Topic"] = topic
    mail.set_content(body or render_text(message), cte="quoted-printable")
    html = render_html(message) if body is None else text_as_html(body, mail["Subject"])
    mail.add_alternative(html, subtype="html", cte="quoted-printable")
    return mail


def _envelope_address(address: str) -> str:
    return parseaddr(address)[1] or address


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EmailNotifier:
    """Sends each message over its own SMTP connection."""

    def __init__(self, settings: EmailSettings, *, password: str | None) -> None:
        self.name = settings.name
        self._settings = settings
        self._password = password
        self._where = f"{settings.host}:{settings.port}"
        self._templates = Templates.compile(
            settings.name, settings.subject_template, settings.body_template
        )

    def close(self) -> None:
        """Nothing to release: connections do not outlive a send."""

    def send(self, message: Message) -> None:
        s = self._settings
        self._check_settings()
        utf8 = not all(a.isascii() for a in (s.sender, *s.to))
        try:
            mail = compose(message, s, date=utc_now(), templates=self._templates)
            data = mail.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
        except (ValueError, TypeError, LookupError, MessageError) as exc:
            raise PermanentFailure(self.name, f"cannot build the email: {_describe(exc)}") from exc
        context = self._tls_context() if s.security != "none" else None
        smtp: smtplib.SMTP | None = None
        stage: Stage = "connect"
        try:
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo_or_helo_if_needed()
            if context is not None and s.security == "starttls":
                stage = "tls"
                self._starttls(smtp, context)
            if s.username:
                stage = "login"
                smtp.login(s.username, self._password or "")
            stage = "envelope"
            self._envelope(smtp, utf8=utf8)
            stage = "data"
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            stage = "sent"  # from here on the server may have the whole message
            smtp.send(_dot_stuffed(data))
            code, reply = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except NotifyError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            if stage != "login":
                raise self._translate(exc, stage) from exc
            # The server's answer to our credentials stays out of the error's chain.
            login_error = self._translate(exc, stage)
        else:
            log.debug("%s: sent %s", self.name, message_id(message))
            return
        finally:
            if smtp is not None:
                _quit(smtp)
        raise login_error

    def _check_settings(self) -> None:
        s = self._settings
        if s.username and not self._password:
            raise PermanentFailure(self.name, "a username is set but no password was given")
        if s.username and s.security == "none" and not _is_loopback(s.host):
            raise PermanentFailure(
                self.name,
                "refusing to send the password over an unencrypted connection to "
                f'{self._where}; set security = "starttls" or "tls"',
            )

    def _tls_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self._settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise NotifyError(
                self.name, f"cannot load ca_file {self._settings.ca_file}: {_describe(exc)}"
            ) from exc

    def _starttls(self, smtp: smtplib.SMTP, context: ssl.SSLContext) -> None:
        if not smtp.has_extn("starttls"):
            raise NotifyError(
                self.name,
                f"{self._where} does not offer STARTTLS; not continuing without TLS "
                '(security = "starttls")',
            )
        smtp.starttls(context=context)
        smtp.ehlo_or_helo_if_needed()

    def _envelope(self, smtp: smtplib.SMTP, *, utf8: bool) -> None:
        s = self._settings
        options: list[str] = []
        if utf8:
            if not smtp.has_extn("smtputf8"):
                raise PermanentFailure(
                    self.name, f"the addresses need SMTPUTF8, which {self._where} does not offer"
                )
            options.append("SMTPUTF8")
        sender = _envelope_address(s.sender)
        code, reply = smtp.mail(sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in (_envelope_address(a) for a in s.to):
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(s.to):
            temporary = any(400 <= code < 500 for code, _ in refused.values())
            detail = "; ".join(f"{a}: {self._reply(c, r)}" for a, (c, r) in refused.items())
            error = NotifyError if temporary else PermanentFailure
            raise error(self.name, self._clean(f"every recipient refused: {detail}"))
        for address, (code, reply) in refused.items():
            reason = self._clean(self._reply(code, reply))
            log.warning("%s: recipient %s refused: %s", self.name, address, reason)

    def _translate(self, exc: BaseException, stage: Stage) -> NotifyError:
        if stage == "sent" and not (
            isinstance(exc, smtplib.SMTPResponseException) and 400 <= exc.smtp_code < 600
        ):
            return AmbiguousDelivery(
                self.name,
                self._clean(
                    f"{self._where}: the connection failed after the message was sent and "
                    f"before the server confirmed it ({_describe(exc)}); it may have been "
                    "delivered"
                ),
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            code = exc.smtp_code
            what = {"connect": "greeting", "login": "login"}.get(stage, stage)
            reason = self._clean(
                f"{self._where}: {what} refused: {self._reply(code, exc.smtp_error)}"
            )
            return (
                PermanentFailure(self.name, reason)
                if 500 <= code < 600
                else NotifyError(self.name, reason)
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError) or (
            stage == "login"
            and isinstance(exc, smtplib.SMTPException)
            and not isinstance(exc, smtplib.SMTPServerDisconnected)
        ):
            return PermanentFailure(self.name, self._clean(f"{self._where}: {_describe(exc)}"))
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = f"TLS certificate of {self._where} not trusted: {exc.verify_message}"
        elif isinstance(exc, TimeoutError):
            reason = f"{self._where}: timed out after {self._settings.timeout:g}s ({stage})"
        elif isinstance(exc, ConnectionRefusedError):
            reason = f"{self._where}: connection refused"
        else:
            reason = f"{self._where}: {stage} failed: {_describe(exc)}"
        return NotifyError(self.name, self._clean(reason))

    def _reply(self, code: int, reply: bytes | str) -> str:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        return f"{code} {text}"

    def _clean(self, text: str) -> str:
        """One line, bounded, and without the password in any form a server might echo."""
        password = self._password
        if not password:
            return clean_header(text, _REASON_LIMIT)
        user = self._settings.username or ""
        forms = {
            password,
            clean_header(password, len(password)),
            base64.b64encode(password.encode()).decode(),
            base64.b64encode(f"\0{user}\0{password}".encode()).decode(),
        }
        for form in sorted(forms - {""}, key=len, reverse=True):
            text = text.replace(form, "***")
        text = clean_header(text, len(text) + 1)  # may join a split-up password
        for form in sorted(forms - {""}, key=len, reverse=True):
            text = text.replace(form, "***")
        return clean_header(text, _REASON_LIMIT)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: leading dots doubled, ended by CRLF . CRLF (RFC 5321 4.5.2)."""
    body = _DOT_AT_LINE_START.sub(b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
