"""Notifiers: email, webhooks (JSON, Slack, Discord), the console and, as an extra, Apprise."""

from __future__ import annotations

from monitor.config import (
    AppriseSettings,
    Config,
    ConsoleSettings,
    EmailSettings,
    NotifierSettings,
)
from monitor.config.secrets import read_secret
from monitor.notify.message import Notifier


def build_notifier(settings: NotifierSettings) -> Notifier:
    """The notifier for one configured table, with its secrets read from the environment."""
    key = f"notifiers.{settings.name}"
    if isinstance(settings, ConsoleSettings):
        from monitor.notify.console import ConsoleNotifier
        from monitor.notify.template import Templates

        templates = Templates.compile(
            settings.name, settings.subject_template, settings.body_template
        )
        return ConsoleNotifier(settings.name, templates=templates)
    if isinstance(settings, EmailSettings):
        from monitor.notify.email import EmailNotifier

        password = (
            read_secret(settings.password_env, key=f"{key}.password_env")
            if settings.password_env
            else None
        )
        return EmailNotifier(settings, password=password)
    if isinstance(settings, AppriseSettings):
        from monitor.notify.apprise_notifier import AppriseNotifier

        return AppriseNotifier(settings, url=read_secret(settings.url_env, key=f"{key}.url_env"))
    from monitor.notify.webhook import WebhookNotifier

    url = settings.url or read_secret(settings.url_env or "", key=f"{key}.url_env")
    secret = (
        read_secret(settings.secret_env, key=f"{key}.secret_env") if settings.secret_env else None
    )
    return WebhookNotifier(settings, url=url, secret=secret)


def build_notifiers(config: Config) -> dict[str, Notifier]:
    return {name: build_notifier(s) for name, s in config.notifiers.items()}
