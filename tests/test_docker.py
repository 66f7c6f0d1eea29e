"""The Dockerfile and compose.yaml, checked without a container engine: what they name
exists, the config is a mounted folder, and the health check works against the service."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

from monitor.config import load_config
from tests.procs import wait_for
from tests.servers import free_port
from tests.test_service_e2e import cli_status

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
    assert "MONITOR_UID: ${MONITOR_UID:-10001}" in COMPOSE
    assert re.search(r"^ARG MONITOR_UID=10001$", DOCKERFILE, re.M)


def healthcheck_command() -> list[str]:
    found = re.search(r"^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$", DOCKERFILE, re.M)
    assert found is not None, "no HEALTHCHECK CMD in exec form"
    command = json.loads(found.group(1))
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    at = {line: DOCKERFILE.index(line) for line in DOCKER_STEPS}
    assert list(at.values()) == sorted(at.values()), at
    assert DOCKERFILE.count("pip install") == 2


DOCKER_STEPS = (
    "COPY pyproject.toml ./",
    "/opt/venv/bin/pip install -r requirements.txt",
    "COPY monitor ./monitor",
    "/opt/venv/bin/pip install --no-deps --no-build-isolation .",
)


def requirements(extras: str) -> subprocess.CompletedProcess[str]:
    """The exact script the Dockerfile lists the dependencies with, run on pyproject.toml."""
    found = re.search(r"python3 -c '([^']*)' > requirements\.txt", DOCKERFILE)
    assert found is not None
    return subprocess.run(
        [sys.executable, "-c", found.group(1)],
        cwd=ROOT,
        env={**os.environ, "EXTRAS": extras},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_extras_build_argument_adds_optional_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    base = project["build-system"]["requires"] + project["project"]["dependencies"]
    optional = project["project"]["optional-dependencies"]
    assert requirements("").stdout.splitlines() == base
    both = requirements("apprise,articles").stdout.splitlines()
    assert both == base + optional["apprise"] + optional["articles"]
    assert requirements("nonsense").returncode != 0  # a misspelt group fails the build
    assert re.search(r'^ARG EXTRAS=""$', DOCKERFILE, re.M)
    assert "EXTRAS: ${MONITOR_EXTRAS:-}" in COMPOSE


def test_dockerignore_keeps_local_state_out_and_what_the_image_copies_in() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", ".git", "bench/.work", "archive", "config", "secrets", ".pytest_cache"):
        assert entry in ignored, entry
    for source in re.findall(r"^COPY (\S+) ", DOCKERFILE, re.M):
        assert source not in ignored and (ROOT / source).exists(), source


def test_secrets_come_from_compose_secrets_through_file_variables() -> None:
    names = re.findall(r"^      (\w+)_FILE: /run/secrets/(\w+)$", COMPOSE, re.M)
    assert names == [("SMTP_PASSWORD", "smtp_password"), ("HOOK_SECRET", "hook_secret")]
    for variable, secret in names:
        assert re.search(rf"^      - {secret}$", COMPOSE, re.M)  # the service gets it
        assert re.search(rf"^  {secret}:\n    file: \./secrets/{secret}$", COMPOSE, re.M)
        # The plain variable, even empty, would win over its file.
        assert not re.search(rf"^      {variable}:", COMPOSE, re.M)


def image_config(tmp_path: Path) -> Path:
    """The image's default config.toml, made by the Dockerfile's own commands."""
    folder = tmp_path / "image-config"
    shutil.copytree(ROOT / "rules", folder / "rules")
    shutil.copytree(ROOT / "samples", folder / "samples")
    shutil.copy(ROOT / "config.toml", folder / "config.toml")
    found = re.search(r"^RUN (sed -i .*?)\n\n", DOCKERFILE, re.M | re.S)
    assert found is not None
    script = found.group(1).replace("\\\n", " ").replace("/config/config.toml", "config.toml")
    subprocess.run(["sh", "-c", script], cwd=folder, check=True)
    return folder / "config.toml"


def test_the_image_config_serves_healthz_where_the_health_check_asks(tmp_path: Path) -> None:
    config = load_config(image_config(tmp_path))
    assert config.archive_url == "sqlite:////data/monitor.db"
    assert config.service.metrics_bind == "0.0.0.0"
    healthz = image_env()["MONITOR_HEALTHZ"]
    assert healthz == f"http://127.0.0.1:{config.service.metrics_port}/healthz"
    assert [f.name for f in config.feeds] == ["Example World News", "Example Wire Service"]


def test_the_health_check_command_against_the_running_service(tmp_path: Path) -> None:
    """The HEALTHCHECK's exact command: healthy while the service runs, also after an edit of
    config.toml that does not load; unhealthy once it has stopped."""
    command = healthcheck_command()
    assert command[0] == "python3" and "curl" not in " ".join(command)
    port = free_port()
    folder, data = tmp_path / "config", tmp_path / "data"
    folder.mkdir()
    data.mkdir()
    shutil.copytree(ROOT / "rules", folder / "rules")
    shutil.copytree(ROOT / "samples", folder / "samples")
    config = folder / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///archive/monitor.db", f"sqlite:///{data}/monitor.db")
    text += (
        f'\n[service]\nmetrics_port = {port}\nmetrics_bind = "0.0.0.0"\nreload_every = "200ms"\n'
    )
    config.write_text(text, encoding="utf-8")
    environ = {**os.environ, "MONITOR_CONFIG": str(config)}
    check = {**environ, "MONITOR_HEALTHZ": f"http://127.0.0.1:{port}/healthz"}

    def healthy() -> bool:
        return subprocess.run(command, env=check, capture_output=True, timeout=30).returncode == 0

    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run"],
        cwd=folder,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(healthy)
        config.write_text(text + "\n[service\n", encoding="utf-8")  # not valid TOML
        wait_for(lambda: "reload error" in cli_status(config))
        assert healthy()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    assert not healthy()


def test_the_readme_setup_makes_the_image_config(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^    (mkdir -p config secrets .*?)\n    MONITOR_UID", readme, re.S | re.M)
    assert found is not None, "no setup commands in the README's Docker section"
    work = tmp_path / "checkout"
    shutil.copytree(ROOT / "rules", work / "rules")
    shutil.copytree(ROOT / "samples", work / "samples")
    shutil.copy(ROOT / "config.toml", work / "config.toml")
    script = found.group(1).replace("\n    ", "\n")
    subprocess.run(["sh", "-c", script], cwd=work, check=True)
    made = (work / "config" / "config.toml").read_text(encoding="utf-8")
    assert made == image_config(tmp_path).read_text(encoding="utf-8")
    assert (work / "secrets" / "smtp_password").exists()
    assert (work / "config" / "rules" / "topics.toml").exists()
    # The README's two commands at the top are not the Docker ones.
    assert readme.count("<!-- run-command -->") == 1
