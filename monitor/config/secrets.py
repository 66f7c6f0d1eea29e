"""Secrets come from the environment only, and never appear in logs, errors or output."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from monitor.errors import ConfigError
from monitor.redact import remember_secret, remember_url


def read_secret(env_name: str, *, key: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of environment variable ``env_name``, or of the file named by ``env_name_FILE``.

    ``key`` names the config key that asked for it, for the error message. The
    value itself is never part of any message, and is remembered so that log output
    masks it (``redact_text``).
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
    remember_secret(value)
    if "://" in value:  # a URL (webhook, Apprise): its path and query alone are secret too
        remember_url(value)
    return value
