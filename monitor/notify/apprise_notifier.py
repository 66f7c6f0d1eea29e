"""Apprise notifier: any service Apprise supports, through one URL (an optional extra).

Apprise is imported only when a notifier is built, so this module imports
without it; building one without it installed raises a ConfigError that says
how to install it. Apprise URLs carry credentials: they come from the
environment and appear in errors only as the service's name.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from monitor.config import AppriseSettings
from monitor.errors import ConfigError, NotifyError
from monitor.notify.clean import clean_message
from monitor.notify.message import Message
from monitor.notify.render import clean_header, render_text
from monitor.notify.template import Templates

INSTALL_HINT = "pip install 'news-monitor[apprise]'"
TITLE_LIMIT = 250


def load_apprise() -> ModuleType:
    """The apprise module, or a ConfigError saying how to install it."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        raise ConfigError(
            f"the apprise notifier needs the Apprise library: {INSTALL_HINT}"
        ) from None


class AppriseNotifier:
    """Sends a message's subject and plain-text body through one Apprise URL."""

    def __init__(self, settings: AppriseSettings, *, url: str) -> None:
        self.name = settings.name
        self.settings = settings
        apprise = load_apprise()
        self._apprise = apprise
        self._target = apprise.Apprise()
        try:
            added = bool(self._target.add(url))
        except Exception:  # a URL Apprise cannot even parse; never echo it
            added = False
        if not added:
            raise ConfigError(
                f"not a URL that Apprise supports (from ${settings.url_env})",
                key=f"notifiers.{settings.name}.url_env",
            )
        self._templates = Templates.compile(
            settings.name, settings.subject_template, settings.body_template
        )
        self.service = str(getattr(self._target[0], "service_name", "apprise"))

    def __repr__(self) -> str:
        return f"AppriseNotifier({self.name!r}, {self.service!r})"

    def send(self, message: Message) -> None:
        message = clean_message(message)
        templated = self._templates.render_subject(message)
        title = (templated and clean_header(templated, TITLE_LIMIT)) or clean_header(
            message.subject, TITLE_LIMIT
        )
        body = self._templates.render_body(message) or render_text(message)
        try:
            ok = bool(
                self._target.notify(
                    body=body, title=title, body_format=self._apprise.NotifyFormat.TEXT
                )
            )
        except Exception as exc:  # Apprise plugins may raise anything
            # Not chained: a plugin's exception text may hold the URL and its credentials.
            raise NotifyError(
                self.name, f"{self.service}: Apprise failed ({type(exc).__name__})"
            ) from None
        if not ok:
            raise NotifyError(self.name, f"{self.service}: Apprise reported a failed delivery")

    def close(self) -> None:
        self._target.clear()
