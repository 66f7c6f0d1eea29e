"""Running the command line against a copy of the shipped project."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def run(config: Path, *args: str, code: int = 0) -> str:
    """The output of ``monitor ARGS --config CONFIG``, which must exit with ``code``."""
    result = CliRunner().invoke(main, [*args, "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output
