"""The email notifier against real SMTP servers on loopback: aiosmtpd, and a scripted
responder that misbehaves on purpose (drops after DATA, never answers, refuses)."""

from __future__ import annotations

import base64
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from hypothesis import HealthCheck, given, settings

from monitor.config import EmailSettings
from monitor.errors import AmbiguousDelivery, NotifyError, PermanentFailure
from monitor.notify.email import EmailNotifier, compose
from monitor.notify.message import Message
from tests.servers import free_port, smtp_server
from tests.test_render import (
    HOSTILE,
    LONG,
    alert,
    assert_safe_text,
    hostile_messages,
    html_problems,
    html_text,
    item,
    links,
)

PASSWORD = "s3cret-Pa55word!"
HEADERS = {
    "subject", "from", "to", "date", "message-id", "auto-submitted", "x-news-monitor-kind",
    "x-news-monitor-topic", "mime-version", "content-type",
}  # fmt: skip


def email_settings(port: int, **changes: Any) -> EmailSettings:
    base = EmailSettings(
        name="desk",
        host="127.0.0.1",
        port=port,
        security="none",
        sender="News Monitor <monitor@example.org>",
        to=("desk@example.org", "editor@example.org"),
        timeout=5.0,
    )
    return replace(base, **changes)


def parse(raw: bytes) -> EmailMessage:
    mail = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(mail, EmailMessage)
    return mail


def parts(mail: EmailMessage) -> tuple[str, str]:
    assert mail.get_content_type() == "multipart/alternative"
    text_part = mail.get_body(("plain",))
    html_part = mail.get_body(("html",))
    assert text_part is not None and html_part is not None
    return text_part.get_content(), html_part.get_content()


# --- an aiosmtpd server ----------------------------------------------------------------


class Recorder:
    """aiosmtpd handler that records MAIL FROM, logins and delivered messages."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.refuse = refuse
        self.mail_from: list[str] = []
        self.messages: list[bytes] = []
        self.recipients: list[list[str]] = []
        self.logins: list[str] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(content)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.login.decode())
        ok = data.login == b"monitor" and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    with smtp_server(handler) as port:
        yield handler, port


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A server TLS context with a certificate for 127.0.0.1 from a throwaway CA, and that
    CA's file."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, str(ca_file)


def assert_no_password(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), *(str(a) for a in seen.args)):
            assert PASSWORD not in text
        seen = seen.__cause__ or seen.__context__


# --- delivery --------------------------------------------------------------------------


def test_alert_is_delivered_with_headers_and_both_parts(server: tuple[Recorder, int]) -> None:
    handler, port = server
    EmailNotifier(email_settings(port), password=None).send(alert())
    assert handler.mail_from == ["monitor@example.org"]
    assert handler.recipients == [["desk@example.org", "editor@example.org"]]
    mail = parse(handler.messages[0])
    assert {k.lower() for k in mail} == HEADERS
    assert mail["Subject"] == "[china-rights] U.S. and China resume human rights talks"
    assert mail["From"] == "News Monitor <monitor@example.org>"
    assert mail["To"] == "desk@example.org, editor@example.org"
    assert mail["Message-ID"] == "<a1b2c3d4e5f60718@news-monitor>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-News-Monitor-Topic"] == "china-rights"
    assert mail["X-News-Monitor-Kind"] == "alert"
    assert mail["Date"].datetime.tzinfo is not None
    text, page = parts(mail)
    url = "https://news.example.org/world/china-talks?id=7&src=rss"
    assert "the *human rights* dialogue would resume before the *MFN* vote." in text
    assert "also reported by Daily Planet, Gazette" in text
    assert f"Link: {url}" in text
    assert html_problems(page) == []
    assert links(page) == [url, url]
    assert "<strong>human rights</strong></mark>" in page
    assert "Example Wire, also reported by Daily Planet, Gazette" in html_text(page)


def test_a_retry_carries_the_same_message_id(server: tuple[Recorder, int]) -> None:
    handler, port = server
    notifier = EmailNotifier(email_settings(port), password=None)
    message = replace(alert(), id="f" * 64)
    notifier.send(message)
    notifier.send(message)
    notifier.close()
    ids = [parse(raw)["Message-ID"] for raw in handler.messages]
    assert ids == [f"<{'f' * 64}@news-monitor>"] * 2


def test_a_refused_recipient_does_not_stop_the_others() -> None:
    handler = Recorder(refuse=("editor@example.org",))
    with smtp_server(handler) as port:
        EmailNotifier(email_settings(port), password=None).send(alert())
    assert handler.recipients == [["desk@example.org"]]


def test_every_recipient_refused_is_permanent() -> None:
    handler = Recorder(refuse=("desk@example.org", "editor@example.org"))
    with smtp_server(handler) as port, pytest.raises(PermanentFailure, match="no such user"):
        EmailNotifier(email_settings(port), password=None).send(alert())
    assert handler.messages == []


def test_connection_refused_is_retried_later() -> None:
    with pytest.raises(NotifyError, match="connection refused") as info:
        EmailNotifier(email_settings(free_port()), password=None).send(alert())
    assert type(info.value) is NotifyError  # neither permanent nor ambiguous


# --- TLS and login ---------------------------------------------------------------------


def test_starttls_not_offered_fails_before_mail_from(server: tuple[Recorder, int]) -> None:
    handler, port = server
    notifier = EmailNotifier(email_settings(port, security="starttls"), password=None)
    with pytest.raises(NotifyError, match="does not offer STARTTLS") as info:
        notifier.send(alert())
    assert type(info.value) is NotifyError
    assert handler.mail_from == [] and handler.messages == []


def test_starttls_not_offered_sends_no_credentials() -> None:
    ehlo = "250-scripted\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME"
    with ScriptedSMTP(EHLO=ehlo) as scripted:
        settings = email_settings(scripted.port, security="starttls", username="monitor")
        with pytest.raises(NotifyError, match="STARTTLS") as info:
            EmailNotifier(settings, password=PASSWORD).send(alert())
    assert [c.split()[0].upper() for c in scripted.commands] == ["EHLO", "QUIT"]
    assert_no_password(info.value)


def test_starttls_with_login(tls: tuple[ssl.SSLContext, str]) -> None:
    context, ca_file = tls
    handler = Recorder()
    kwargs = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    with smtp_server(handler, authenticator=handler.authenticate, **kwargs) as port:
        settings = email_settings(port, security="starttls", username="monitor", ca_file=ca_file)
        EmailNotifier(settings, password=PASSWORD).send(alert())
    assert handler.logins == ["monitor"]
    assert len(handler.messages) == 1
    assert parse(handler.messages[0])["Message-ID"] == "<a1b2c3d4e5f60718@news-monitor>"


def test_wrong_password_is_permanent_and_never_shown(tls: tuple[ssl.SSLContext, str]) -> None:
    context, ca_file = tls
    handler = Recorder()
    kwargs = {"tls_context": context, "require_starttls": True}
    with smtp_server(handler, authenticator=handler.authenticate, **kwargs) as port:
        settings = email_settings(port, security="starttls", username="monitor", ca_file=ca_file)
        with pytest.raises(PermanentFailure, match="535") as info:
            EmailNotifier(settings, password=PASSWORD + "x").send(alert())
    assert handler.mail_from == []
    assert_no_password(info.value)
    assert PASSWORD + "x" not in str(info.value)


def test_untrusted_certificate_fails_before_mail_from(tls: tuple[ssl.SSLContext, str]) -> None:
    context, _ = tls
    handler = Recorder()
    with smtp_server(handler, tls_context=context) as port:
        settings = email_settings(port, security="starttls", username="monitor")
        with pytest.raises(NotifyError, match="certificate") as info:
            EmailNotifier(settings, password=PASSWORD).send(alert())
    assert type(info.value) is NotifyError
    assert handler.mail_from == [] and handler.logins == []
    assert_no_password(info.value)


def test_implicit_tls(tls: tuple[ssl.SSLContext, str]) -> None:
    context, ca_file = tls
    handler = Recorder()
    with smtp_server(handler, ssl_context=context) as port:
        EmailNotifier(email_settings(port, security="tls", ca_file=ca_file), password=None).send(
            alert()
        )
    assert len(handler.messages) == 1


def test_password_over_plain_smtp_to_a_remote_host_is_refused() -> None:
    settings = email_settings(25, host="192.0.2.1", username="monitor")  # never contacted
    with pytest.raises(PermanentFailure, match="unencrypted") as info:
        EmailNotifier(settings, password=PASSWORD).send(alert())
    assert_no_password(info.value)


def test_a_username_without_a_password_is_permanent() -> None:
    settings = email_settings(25, security="starttls", username="monitor")
    with pytest.raises(PermanentFailure, match="no password"):
        EmailNotifier(settings, password=None).send(alert())


# --- a scripted server that misbehaves -------------------------------------------------

DROP = "<drop the connection>"
HANG = "<never answer>"


class ScriptedSMTP:
    """A tiny SMTP responder: answers each verb from a script; DATA's content is read up to
    the final dot, then "END" is answered. DROP closes the connection, HANG never answers."""

    def __init__(self, **replies: str) -> None:
        self.replies = {
            "GREETING": "220 scripted ESMTP",
            "EHLO": "250-scripted\r\n250 8BITMIME",
            "HELO": "250 scripted",
            "MAIL": "250 ok",
            "RCPT": "250 ok",
            "DATA": "354 go ahead",
            "END": "250 queued",
            "RSET": "250 ok",
            "QUIT": "221 bye",
            **replies,
        }
        self.commands: list[str] = []
        self.received: list[bytes] = []
        self.stopping = threading.Event()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner.converse(self.rfile, self.wfile)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])

    def reply(self, wfile: Any, key: str) -> bool:
        answer = self.replies.get(key, "502 not implemented")
        if answer == HANG:
            self.stopping.wait(30)
        if answer in (DROP, HANG):
            return False
        wfile.write(answer.encode() + b"\r\n")
        wfile.flush()
        return True

    def converse(self, rfile: Any, wfile: Any) -> None:
        if not self.reply(wfile, "GREETING"):
            return
        while line := rfile.readline():
            command = line.decode("utf-8", "replace").strip()
            self.commands.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb == "DATA" and self.replies["DATA"].startswith("354"):
                self.reply(wfile, "DATA")
                content = b"".join(iter(rfile.readline, b".\r\n"))
                self.received.append(content)
                verb = "END"
            if not self.reply(wfile, verb) or verb == "QUIT":
                return

    def __enter__(self) -> ScriptedSMTP:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def scripted_send(scripted: ScriptedSMTP, **changes: Any) -> None:
    EmailNotifier(email_settings(scripted.port, **changes), password=None).send(alert())


def test_dropped_after_data_is_ambiguous() -> None:
    with ScriptedSMTP(END=DROP) as scripted, pytest.raises(AmbiguousDelivery) as info:
        scripted_send(scripted)
    assert "may have been delivered" in str(info.value)
    assert len(scripted.received) == 1
    assert b"Message-ID: <a1b2c3d4e5f60718@news-monitor>" in scripted.received[0]


def test_no_final_reply_is_ambiguous() -> None:
    with ScriptedSMTP(END=HANG) as scripted, pytest.raises(AmbiguousDelivery):
        scripted_send(scripted, timeout=0.5)
    assert len(scripted.received) == 1


def test_dropped_before_the_data_go_ahead_is_a_plain_retry() -> None:
    with ScriptedSMTP(DATA=DROP) as scripted, pytest.raises(NotifyError) as info:
        scripted_send(scripted)
    assert type(info.value) is NotifyError  # the server never had the content
    assert scripted.received == []


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ({"END": "451 4.3.0 try again later"}, NotifyError),
        ({"END": "554 5.7.1 rejected as spam"}, PermanentFailure),
        ({"MAIL": "421 4.7.0 too busy"}, NotifyError),
        ({"MAIL": "553 5.7.1 sender not allowed"}, PermanentFailure),
        ({"RCPT": "450 4.2.0 greylisted"}, NotifyError),
        ({"RCPT": "550 5.1.1 unknown"}, PermanentFailure),
        ({"DATA": "452 4.3.1 out of space"}, NotifyError),
        ({"GREETING": "554 5.3.2 no service"}, PermanentFailure),
        ({"GREETING": DROP}, NotifyError),
        ({"GREETING": HANG}, NotifyError),
        ({"EHLO": DROP}, NotifyError),
    ],
)
def test_replies_map_to_errors(script: dict[str, str], error: type[NotifyError]) -> None:
    with ScriptedSMTP(**script) as scripted, pytest.raises(NotifyError) as info:
        scripted_send(scripted, timeout=0.5)
    assert type(info.value) is error
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("454 4.7.0 temporary authentication failure", NotifyError),
        ("535 5.7.8 authentication credentials invalid", PermanentFailure),
    ],
)
def test_login_failures(answer: str, error: type[NotifyError]) -> None:
    ehlo = "250-scripted\r\n250 AUTH PLAIN"
    with ScriptedSMTP(EHLO=ehlo, AUTH=answer) as scripted:
        settings = email_settings(scripted.port, username="monitor")  # loopback: plain allowed
        with pytest.raises(NotifyError) as info:
            EmailNotifier(settings, password=PASSWORD).send(alert())
    assert type(info.value) is error
    assert answer[:3] in str(info.value)
    assert_no_password(info.value)
    assert [c.split()[0].upper() for c in scripted.commands] == ["EHLO", "AUTH", "QUIT"]


def test_a_server_echoing_credentials_has_them_redacted() -> None:
    blob = base64.b64encode(f"\0monitor\0{PASSWORD}".encode()).decode()
    ehlo = "250-scripted\r\n250 AUTH PLAIN"
    answer = f"535 5.7.8 AUTH PLAIN {blob} rejected for password {PASSWORD}"
    with ScriptedSMTP(EHLO=ehlo, AUTH=answer) as scripted:
        settings = email_settings(scripted.port, username="monitor")
        with pytest.raises(PermanentFailure) as info:
            EmailNotifier(settings, password=PASSWORD).send(alert())
    assert_no_password(info.value)
    assert blob not in str(info.value)
    assert "***" in str(info.value)


# --- hostile story text ----------------------------------------------------------------


def header_lines(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def assert_safe_email(raw: bytes, expected: set[str]) -> None:
    """No injected header, one single-line Subject, inert HTML, short lines."""
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    names = [line.split(b":", 1)[0].decode().lower() for line in header_lines(raw)]
    names = [n for n in names if not n[:1].isspace()]  # continuation lines
    assert set(names) == expected and len(names) == len(expected)
    mail = parse(raw)
    assert {k.lower() for k in mail} == expected
    subjects = mail.get_all("Subject")
    assert subjects is not None and len(subjects) == 1
    assert str(subjects[0]).splitlines() in ([str(subjects[0])], [])
    assert len(str(subjects[0])) <= 200
    text, page = (part.replace("\r\n", "\n") for part in parts(mail))
    assert html_problems(page) == []
    assert_safe_text(text)
    assert_safe_text(html_text(page))


def test_hostile_alert_over_smtp(server: tuple[Recorder, int]) -> None:
    handler, port = server
    nasty = "".join(HOSTILE)
    message = alert(
        item(
            headline=f"{nasty} {LONG}",
            snippet=nasty,
            snippet_terms=((0, 5), (10, 40)),
            sources=(nasty, "\r\nBcc: x@example.org"),
            why=nasty,
            url="javascript:alert(1)",
        ),
        topic="rights=?utf-8?q?=0D=0AX-Evil:_1?=\r\nX-Topic-Evil: 1",
    )
    EmailNotifier(email_settings(port), password=None).send(message)
    raw = handler.messages[0]
    assert_safe_email(raw, HEADERS)
    mail = parse(raw)
    assert mail["X-Evil"] is None and mail["Bcc"] is None and mail["X-Topic-Evil"] is None
    _, page = parts(mail)
    assert links(page) == []
    assert "<script>alert(1)</script>" in html_text(page)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_messages())
def test_hostile_messages_make_safe_emails(message: Message) -> None:
    mail = compose(message, email_settings(25), date=datetime(2024, 5, 1, tzinfo=UTC))
    expected = HEADERS if mail["X-News-Monitor-Topic"] else HEADERS - {"x-news-monitor-topic"}
    assert_safe_email(mail.as_bytes(), expected)


def test_encoded_words_in_a_headline_stay_literal() -> None:
    # Python's header parser would decode this into a line break and an X-Evil header.
    message = alert(item(headline="Hi =?utf-8?q?=0D=0AX-Evil:_1?= there"))
    raw = compose(message, email_settings(25), date=datetime(2024, 5, 1, tzinfo=UTC)).as_bytes()
    assert_safe_email(raw, HEADERS)
    subject = str(parse(raw)["Subject"])
    assert subject.replace("\u200b", "") == "[china-rights] Hi =?utf-8?q?=0D=0AX-Evil:_1?= there"


@pytest.mark.parametrize("fragment", HOSTILE)
def test_hostile_subjects(fragment: str) -> None:
    message = alert(item(headline=f"a{fragment}b"), topic=f"t{fragment}")
    mail = compose(message, email_settings(25), date=datetime(2024, 5, 1, tzinfo=UTC))
    assert_safe_email(mail.as_bytes(), HEADERS)
