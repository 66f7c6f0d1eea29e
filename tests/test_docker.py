"""The Dockerfile and compose.yaml, checked without a container engine: what they name
exists, the config is a mounted folder, and the health check works against the service."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = (ROOT / "compose.yaml").read_text(encoding="utf-8")


def compose_volumes() -> list[str]:
    """The short-syntax volume entries of the monitor service."""
    block = re.search(r"^    volumes:\n((?:      - .*\n)+)", COMPOSE, re.M)
    assert block is not None, "compose.yaml has no volumes list"
    return [line.strip()[2:] for line in block.group(1).splitlines()]


def test_compose_mounts_the_config_folder_not_the_file() -> None:
    volumes = compose_volumes()
    assert "./config:/config" in volumes
    assert not any(v.split(":")[0].endswith(".toml") for v in volumes), volumes
    assert "archive:/data" in volumes  # the archive in its own volume, outside the folder


def test_the_image_default_config_keeps_its_archive_in_the_data_volume() -> None:
    # The Dockerfile rewrites the archive line of the bundled config.toml: it must be there.
    line = re.search(r"sed -i 's\|\^(.*?)\|", DOCKERFILE)
    assert line is not None
    config = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert re.search("^" + line.group(1), config, re.M)
    assert 'VOLUME ["/data"]' in DOCKERFILE
