"""Operator message templates: ``subject_template`` and ``body_template`` of a notifier.

Templates are Jinja2 text rendered in a ``SandboxedEnvironment`` with ``StrictUndefined``
and no autoescaping, against ``context(message)``: plain strings, numbers, lists and
dicts made from the *cleaned* message (``clean_message``), never an object that reaches
the archive or files. Story text is a value, so ``{{`` inside a headline comes out as
written: Jinja never evaluates what a template outputs.

What a template makes is cleaned like the built-in rendering: a subject is one header
line (the callers' ``clean_header``), a body has each line scrubbed of controls and
bidi/format characters and is capped at ``BODY_LIMIT``. A template that fails on one
message (an undefined name, a sandbox refusal, a type error) never loses the alert: the
default rendering is used for that message and one warning names the notifier and error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from monitor.errors import ConfigError
from monitor.notify.clean import clean_message, scrub
from monitor.notify.message import Message
from monitor.notify.render import format_time, inline, safe_link, sources_line, truncate

log = logging.getLogger(__name__)

BODY_LIMIT = 32 * 1024  # characters of a templated body
_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class _Sandbox(SandboxedEnvironment):
    """The sandbox, and no huge values made by ``*`` or ``**`` (``{{ 'x' * 10**9 }}``)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > 4 * BODY_LIMIT:
                    raise SecurityError("repeated sequence too long")
        return super().call_binop(context, operator, left, right)


def _environment() -> SandboxedEnvironment:
    return _Sandbox(autoescape=False, undefined=StrictUndefined)


@dataclass(frozen=True, slots=True)
class Templates:
    """A notifier's compiled templates (None: that part is rendered by default)."""

    notifier: str
    subject: Template | None = None
    body: Template | None = None

    @classmethod
    def compile(cls, notifier: str, subject: str | None, body: str | None) -> Templates:
        """Compile the sources, which config loading has already checked."""
        env = _environment()
        compiled: list[Template | None] = []
        for key, source in (("subject_template", subject), ("body_template", body)):
            try:
                compiled.append(env.from_string(source) if source else None)
            except TemplateSyntaxError as exc:
                raise ConfigError(
                    f"the template does not compile: line {exc.lineno}: {exc.message}",
                    key=f"notifiers.{notifier}.{key}",
                ) from None
        return cls(notifier, compiled[0], compiled[1])

    def render_subject(self, message: Message) -> str | None:
        """The templated subject (not yet header-cleaned), or None for the default."""
        return self._render(self.subject, "subject_template", message)

    def render_body(self, message: Message) -> str | None:
        """The templated body, cleaned and capped, or None for the default."""
        text = self._render(self.body, "body_template", message)
        return None if text is None else clean_body(text)

    def _render(self, template: Template | None, key: str, message: Message) -> str | None:
        if template is None:
            return None
        try:
            text = template.render(context(message))
        except Exception as exc:  # any failure: the default rendering instead
            log.warning(
                "notifier %s: %s failed for message %s, sent the default rendering: %s: %s",
                self.notifier,
                key,
                message.id,
                type(exc).__name__,
                inline(str(exc))[:300],
            )
            return None
        return text if text.strip() else None


def clean_body(text: str) -> str:
    """Each line scrubbed (no controls, bidi or format characters; indentation kept), runs
    of blank lines squeezed, the whole capped at ``BODY_LIMIT``."""
    lines = [scrub(line).rstrip() for line in _BREAKS.split(text)]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return truncate(body, BODY_LIMIT) + "\n"


def context(message: Message) -> dict[str, Any]:
    """What a template sees: plain data about the cleaned message (docs/config.md lists it)."""
    message = clean_message(message)
    items = [
        {
            "headline": inline(item.headline),
            "link": safe_link(item.url) or "",
            "snippet": inline(item.snippet),
            "why": inline(item.why),
            "sources": [inline(s) for s in item.sources],
            "source": sources_line(item.sources),
            "published": format_time(item.published),
            "topics": list(item.topics),
        }
        for item in message.items
    ]
    view: dict[str, Any] = {
        "kind": message.kind,
        "id": message.id,
        "topic": inline(message.topic),
        "topics": [
            inline(t) for t in message.topics or ((message.topic,) if message.topic else ())
        ],
        "items": items,
        "count": len(message.items) + message.omitted,
        "omitted": message.omitted,
        "created": format_time(message.created),
        "title": inline(message.title),
        "text": message.text,
    }
    if message.kind == "alert" and items:
        view["item"] = items[0]  # undefined in a digest: a template using it falls back there
    return view
