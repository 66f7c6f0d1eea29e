"""Secrets come from the environment only, and never appear in logs or errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from monitor.errors import ConfigError


def read_secret(env_name: str, *, key: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of environment variable ``env_name``, or of the file named by ``env_name_FILE``.

    ``key`` names the config key that asked for it, for the error message. The
    value itself is never part of any message.
    """
    env = os.environ if environ is None else environ
    value = env.get(env_name)
    if value is None and env.get(f"{env_name}_FILE"):
        path = Path(env[f"{env_name}_FILE"])
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the file named by {env_name}_FILE: {exc.strerror}", key=key
            ) from None
    if not value:
        raise ConfigError(
            f"environment variable {env_name} (or {env_name}_FILE) is not set", key=key
        )
    return value


def redact_url(url: str) -> str:
    """A URL safe to log: scheme, host and the first path segment; tokens masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    segments = [s for s in parts.path.split("/") if s]
    path = "/" + segments[0] if segments else ""
    if len(segments) > 1 or parts.query:
        path += "/***"
    return urlunsplit((parts.scheme, host + port, path, "", ""))
