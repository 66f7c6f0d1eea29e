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


def dockerfile_final(instruction: str) -> str:
    """The argument of the last ``instruction`` (WORKDIR, CMD, ...) of the Dockerfile."""
    found = re.findall(rf"^{instruction} (.*)$", DOCKERFILE, re.M)
    assert found, f"no {instruction} in the Dockerfile"
    return str(found[-1])


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in re.findall(r"^ENV (.*)$", DOCKERFILE, re.M):
        for pair in args.split():
            name, _, value = pair.partition("=")
            env[name] = value.strip('"')
    return env


def test_commands_in_the_container_find_the_mounted_config() -> None:
    # `docker compose exec monitor monitor check` runs in the image's working dir with its
    # environment: both point at the mounted folder, and the service itself relies on them.
    assert dockerfile_final("WORKDIR") == "/config"
    assert image_env()["MONITOR_CONFIG"] == "/config/config.toml"
    assert dockerfile_final("CMD") == '["monitor", "run"]'
    assert "UID: ${MONITOR_UID:-10001}" in COMPOSE
    assert re.search(r"^ARG UID=10001$", DOCKERFILE, re.M)
