"""Operator message templates (subject_template, body_template) on every channel."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from monitor.archive import open_archive
from monitor.config import (
    ConsoleSettings,
    EmailSettings,
    WebhookSettings,
    load_config,
)
from monitor.errors import ArchiveMissing, ConfigError
from monitor.notify.console import ConsoleNotifier
from monitor.notify.email import EmailNotifier, compose
from monitor.notify.message import Message
from monitor.notify.payload import build
from monitor.notify.render import render_html, render_text
from monitor.notify.template import BODY_LIMIT, Templates, context
from monitor.notify.webhook import WebhookNotifier
from tests.procs import wait_for
from tests.servers import Mailbox, Receiver
from tests.test_render import HOSTILE, LONG, alert, assert_safe_text, hostile_messages, item
from tests.test_service_e2e import cli_status, start, stop
from tests.test_service_e2e import env as env  # a fixture
from tests.test_service_reload import HARBOUR, Env, put

SUBJECT = (
    "{{ kind }}: {{ topics | join(' + ') }} {% for it in items %}| {{ it.headline }} {% endfor %}"
)
BODY = """{% for it in items %}* {{ it.headline }}
  {{ it.link }} ({{ it.source }}, {{ it.published }})
  {{ it.snippet }} / {{ it.why }}
{% endfor %}count={{ count }} omitted={{ omitted }} {{ title }} {{ text }}"""
ALERT_ONLY = "ALERT {{ item.headline }}"  # `item` is undefined in a digest
DATE = datetime(2024, 5, 2, tzinfo=UTC)
EVIL = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ ''.__class__ }}"


def templates(subject: str | None = SUBJECT, body: str | None = BODY) -> Templates:
    return Templates.compile("desk", subject, body)


def email_settings(**changes: Any) -> EmailSettings:
    base = EmailSettings(
        name="desk",
        host="127.0.0.1",
        port=25,
        security="none",
        sender="monitor@example.org",
        to=("desk@example.org",),
        subject_template=SUBJECT,
        body_template=BODY,
    )
    return replace(base, **changes)


def mail_of(message: Message, settings_: EmailSettings) -> EmailMessage:
    """The email as EmailNotifier composes it, with the templates of ``settings_``."""
    t = Templates.compile("desk", settings_.subject_template, settings_.body_template)
    return compose(message, settings_, date=DATE, templates=t)


def digest(*items: Any) -> Message:
    return Message(
        id="d1", kind="digest", topic="a, b", topics=("a", "b"), items=items, created=DATE
    )


# --- defaults and rendering ----------------------------------------------------------------


def test_no_templates_change_nothing() -> None:
    message = alert()
    plain = mail_of(message, replace(email_settings(), subject_template=None, body_template=None))
    assert plain["Subject"] == "[china-rights] U.S. and China resume human rights talks"
    assert plain.get_body(("plain",)).get_content() == render_text(message)  # type: ignore[union-attr]
    assert plain.get_body(("html",)).get_content() == render_html(message)  # type: ignore[union-attr]
    assert build(message, "json") == build(message, "json", (None, None))


def test_context_is_plain_data() -> None:
    view = context(alert())

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, str | int)

    assert plain(view)
    assert view["item"]["headline"] == "U.S. and China resume human rights talks"
    assert view["item"]["source"] == "Example Wire, also reported by Daily Planet, Gazette"
    assert view["item"]["published"] == "2024-05-01 14:03 UTC"
    assert "item" not in context(digest(item()))


def test_templates_shape_alert_and_digest() -> None:
    t = templates()
    assert (
        t.render_subject(alert())
        == "alert: china-rights | U.S. and China resume human rights talks "
    )
    body = t.render_body(digest(item(), item(headline="Second")))
    assert body is not None
    assert "* Second\n  https://news.example.org/world/china-talks?id=7&src=rss" in body
    assert "count=2 omitted=0" in body


def test_story_text_is_never_evaluated() -> None:
    message = alert(item(headline=EVIL, snippet=EVIL, why=EVIL, sources=(EVIL,)))
    t = templates()
    subject = t.render_subject(message)
    body = t.render_body(message)
    assert subject is not None and EVIL in subject
    assert body is not None and body.count(EVIL) >= 3
    assert "49" not in body and "xxx" not in body and "<class" not in body


def test_failing_template_falls_back_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    t = templates(ALERT_ONLY, ALERT_ONLY)
    assert t.render_subject(alert()) == "ALERT U.S. and China resume human rights talks"
    with caplog.at_level(logging.WARNING, logger="monitor.notify.template"):
        assert t.render_subject(digest(item())) is None
    assert len(caplog.records) == 1
    assert "desk" in caplog.text and "subject_template" in caplog.text
    assert "UndefinedError" in caplog.text
    mail = mail_of(
        digest(item()), email_settings(subject_template=ALERT_ONLY, body_template=ALERT_ONLY)
    )
    assert mail["Subject"] == "[a, b] 1 new story"  # the default, the alert not lost
    assert mail.get_body(("plain",)).get_content() == render_text(digest(item()))  # type: ignore[union-attr]


def test_sandbox_refusal_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    t = templates("{{ kind.__class__.__mro__ }}", "{{ ''.__class__.__subclasses__() }}")
    with caplog.at_level(logging.WARNING):
        assert t.render_subject(alert()) is None
        assert t.render_body(alert()) is None
    assert "SecurityError" in caplog.text


def test_templated_output_is_cleaned_and_capped() -> None:
    t = templates("a\r\nBcc: x@example.org {{ '\u202e' }}", "{{ 'y' * 100000 }}\u202e\x1b[31m")
    mail = mail_of(
        alert(), email_settings(subject_template="a\r\nBcc: x@example.org\u202e {{ topic }}")
    )
    assert mail["Subject"] == "a Bcc: x@example.org china-rights"
    assert mail["Bcc"] is None
    body = t.render_body(alert())
    assert body is not None and len(body) <= BODY_LIMIT + 1
    assert_safe_text(body)


# --- hostile stories through every template path ----------------------------------------------


def _every_path(message: Message) -> list[str]:
    out = []
    mail = mail_of(message, email_settings())
    assert mail["Bcc"] is None and mail["X-Injected"] is None and mail["X-Evil"] is None
    subject = mail["Subject"]
    assert "\n" not in subject and "\r" not in subject and len(subject) <= 200
    out.append(subject.replace("=\u200b?", "=?"))  # the guard against encoded words
    out.append(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script" not in html and "<img" not in html
    for fmt in ("json", "slack", "discord"):
        hook = WebhookNotifier(
            WebhookSettings(
                name="hook",
                url="http://127.0.0.1:9/",
                format=fmt,
                subject_template=SUBJECT,
                body_template=BODY,
            ),
            url="http://127.0.0.1:9/",
            secret=None,
        )
        try:
            t = hook._templates
            shaped = (t.render_subject(message), t.render_body(message))
        finally:
            hook.close()
        payload = json.dumps(build(message, fmt, shaped), ensure_ascii=False)
        assert len(payload) < 200_000
    stream = io.StringIO()
    ConsoleNotifier("console", stream, templates=templates()).send(message)
    lines = stream.getvalue().split("\n")
    assert len(lines[1]) <= 200
    out.append(stream.getvalue())
    return out


@pytest.mark.parametrize("fragment", [*HOSTILE, LONG, EVIL, "{% raw %}", "{{", "{%"])
def test_hostile_fixed_cases_through_templates(fragment: str) -> None:
    hostile = item(
        headline=f"Headline {fragment} end",
        snippet=f"S {fragment}",
        why=fragment,
        sources=(fragment,),
        url=fragment,
    )
    for message in (alert(hostile), digest(hostile, hostile)):
        for text in _every_path(message):
            assert_safe_text(text)
        if fragment in (EVIL, "{{", "{%", "{% raw %}"):
            assert fragment in _every_path(message)[1]  # literally, never evaluated


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_messages())
def test_hostile_messages_through_templates(message: Message) -> None:
    for text in _every_path(message):
        assert_safe_text(text)


# --- configuration -----------------------------------------------------------------------------


def _config(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[notifiers.console]\ntype = "console"\n{table}\n', encoding="utf-8")
    return path


def test_templates_load_from_config(tmp_path: Path) -> None:
    config = load_config(
        _config(tmp_path, 'subject_template = "{{ topic }}"\nbody_template = """\n{{ kind }}\n"""')
    )
    notifier = config.notifiers["console"]
    assert isinstance(notifier, ConsoleSettings)
    assert notifier.subject_template == "{{ topic }}"


def test_a_template_that_does_not_compile_is_a_config_error(tmp_path: Path) -> None:
    path = _config(tmp_path, 'body_template = """\nfine\n{% for x in items %}\n"""')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    shown = str(caught.value)
    assert "notifiers.console.body_template" in shown
    assert "the template does not compile: line 2: Unexpected end of template" in shown
    assert "fine" not in shown  # the template is not quoted back
    assert caught.value.line == 3  # the key's line in config.toml


# --- real deliveries ------------------------------------------------------------------------


def test_email_with_templates_over_smtp(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    hostile = item(headline="Evil {{ 7*7 }}\r\nBcc: victim@example.org \u202e")
    EmailNotifier(email_settings(port=port), password=None).send(alert(hostile))
    [mail] = box.messages
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "alert: china-rights | Evil {{ 7*7 }} Bcc: victim@example.org"
    assert mail["Bcc"] is None
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.startswith("* Evil {{ 7*7 }} Bcc: victim@example.org\n")
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Evil {{ 7*7 }}" in html and "<pre" in html


def test_webhook_with_templates(receiver: Receiver, hook_secret: None) -> None:
    import os

    settings_ = WebhookSettings(
        name="hook",
        url=receiver.url,
        secret_env="HOOK_SECRET",
        subject_template=SUBJECT,
        body_template=ALERT_ONLY,
    )
    with WebhookNotifier(settings_, url=receiver.url, secret=os.environ["HOOK_SECRET"]) as hook:
        hook.send(alert(item(headline="Talks {% if 1 %}resume")))
        hook.send(digest(item()))
    first, second = receiver.deliveries
    assert first["title"] == "alert: china-rights | Talks {% if 1 %}resume"
    assert first["text"] == "ALERT Talks {% if 1 %}resume\n"
    assert first["items"][0]["headline"] == "Talks {% if 1 %}resume"
    assert second["text"] == render_text(digest(item()))  # the body fell back, not lost
    assert second["title"].startswith("digest: a + b")


def test_a_huge_template_is_a_config_error_without_quoting_it(tmp_path: Path) -> None:
    path = _config(tmp_path, f'subject_template = "{"x" * 70000}"')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "at most 65536" in str(caught.value) and "xxxx" not in str(caught.value)


def test_monitor_check_names_the_key_and_the_template_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from monitor.cli.main import main

    path = _config(tmp_path, 'subject_template = "{{ topic }"')
    result = CliRunner().invoke(main, ["--config", str(path), "check"])
    assert result.exit_code != 0
    assert (
        f"{path}:3:1: notifiers.console.subject_template: the template does not compile: line 1:"
        in (result.output)
    )


def test_compiling_a_bad_template_outside_config_loading_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"notifiers\.desk\.body_template.*line 1"):
        Templates.compile("desk", None, "{% if %}")


def test_a_reload_with_a_broken_template_keeps_the_running_config(env: Env) -> None:
    config, feed, receiver, _, _ = env
    put(config.parent / "rules" / "harbour.toml", HARBOUR)
    text = config.read_text(encoding="utf-8")
    url = load_config(config).archive_url

    def status() -> dict[str, Any]:  # the service's own, read whatever the file now says
        try:
            archive = open_archive(url, read_only=True)
        except ArchiveMissing:
            return {}
        try:
            return archive.status()
        finally:
            archive.close()

    proc = start(config)
    try:
        wait_for(lambda: "service: running" in cli_status(config))
        broken = 'timeout = "3s"\nbody_template = "{% if %}"\n'
        put(config, text.replace('timeout = "3s"\n', broken, 1))
        error = f"{config}:18:1: notifiers.hook.body_template: the template does not compile"
        wait_for(lambda: any(error in e for e in status().get("reload_errors") or ()))
        reloaded = status()["reloaded"]
        fixed = 'timeout = "3s"\nsubject_template = "T {{ topic }}: {{ item.headline }}"\n'
        put(config, text.replace('timeout = "3s"\n', fixed, 1))
        wait_for(lambda: status()["reloaded"] != reloaded)
        assert not status().get("reload_errors")
        feed.add("Storm Closes Harbour {{ 7*7 }}", "The harbour was closed on Friday by the storm.")
        title = "T harbour: Storm Closes Harbour {{ 7*7 }}"
        wait_for(lambda: any(d.get("title") == title for d in receiver.deliveries))
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr


def test_huge_values_are_refused_and_fall_back(caplog: pytest.LogCaptureFixture) -> None:
    t = templates("{{ 'x' * 10**9 }}", "{{ 2 ** 10000000 }}")
    with caplog.at_level(logging.WARNING):
        assert t.render_subject(alert()) is None
        assert t.render_body(alert()) is None
    assert caplog.text.count("SecurityError") == 2
    assert templates("{{ '-' * 3 }}", None).render_subject(alert()) == "---"
