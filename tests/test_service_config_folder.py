"""The service run against a config folder, as the container mounts one (``./config`` on
``/config``): config.toml replaced by rename, and the whole folder swapped behind a symlink
as a Kubernetes ConfigMap does it, are both reloaded.

Both replacements keep the old file's modification time and size (``cp -p``, ``rsync -t``,
or an edit within one tick of a coarse clock): only the file being another one (its inode,
the target of its symlink) tells them apart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from monitor.archive import open_archive
from monitor.config import load_config
from monitor.errors import ArchiveError
from tests.builders import LiveFeed
from tests.feedserver import FeedServer
from tests.procs import wait_for
from tests.servers import SECRET, Mailbox, Receiver
from tests.test_service_e2e import ROOT, start, stop
from tests.test_service_e2e import env as env  # a fixture

Env = tuple[Path, LiveFeed, Receiver, Mailbox, int]


def polled_names(config: Path) -> list[str]:
    """The names of the feeds the running service polls, from its archive."""
    try:
        archive = open_archive(load_config(config).archive_url, read_only=True)
    except ArchiveError:  # not made yet, or being upgraded by the starting service
        return []
    try:
        return sorted(state.name for state in archive.feed_states())
    finally:
        archive.close()


def folder_text(env: Env, data: Path) -> str:
    """The e2e config, its archive outside the config folder (its own volume)."""
    text = env[0].read_text(encoding="utf-8")
    return f'[archive]\nurl = "sqlite:///{data}/monitor.db"\n' + text


def renamed(text: str) -> str:
    edited = text.replace('name = "Live"', 'name = "Evil"')  # the same size
    assert edited != text and len(edited) == len(text)
    return edited


def test_config_toml_replaced_by_rename_is_reloaded(env: Env, tmp_path: Path) -> None:
    folder, data = tmp_path / "config", tmp_path / "data"
    folder.mkdir()
    data.mkdir()
    shutil.copytree(ROOT / "rules", folder / "rules")
    config = folder / "config.toml"
    text = folder_text(env, data)
    config.write_text(text, encoding="utf-8")
    proc = start(config)
    try:
        wait_for(lambda: polled_names(config) == ["Live"])
        before = config.stat()
        part = folder / ".config.toml.new"
        part.write_text(renamed(text), encoding="utf-8")
        os.utime(part, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(part, config)  # as editors, sed -i and `monitor feeds import` do
        after = config.stat()
        assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
        wait_for(lambda: polled_names(config) == ["Evil"])
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "configuration reloaded: 1 feed" in stderr


def _version(folder: Path, name: str, text: str, like: Path | None) -> Path:
    """A versioned subfolder as the kubelet writes one: config.toml and rules/."""
    version = folder / name
    shutil.copytree(ROOT / "rules", version / "rules")
    (version / "config.toml").write_text(text, encoding="utf-8")
    if like is not None:  # the same times as the version it replaces
        for old in like.rglob("*"):
            new = version / old.relative_to(like)
            stat = old.stat()
            os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return version


def test_a_config_folder_swapped_behind_a_symlink_is_reloaded(env: Env, tmp_path: Path) -> None:
    # /config/config.toml -> ..data/config.toml, /config/rules -> ..data/rules, and
    # ..data -> ..v1: a ConfigMap's layout. An update writes ..v2 and swaps ..data by rename.
    folder, data = tmp_path / "config", tmp_path / "data"
    folder.mkdir()
    data.mkdir()
    text = folder_text(env, data)
    v1 = _version(folder, "..v1", text, None)
    (folder / "..data").symlink_to("..v1")
    (folder / "config.toml").symlink_to("..data/config.toml")
    (folder / "rules").symlink_to("..data/rules")
    config = folder / "config.toml"
    proc = start(config)
    try:
        wait_for(lambda: polled_names(config) == ["Live"])
        _version(folder, "..v2", renamed(text), v1)
        (folder / "..data_tmp").symlink_to("..v2")
        os.replace(folder / "..data_tmp", folder / "..data")
        wait_for(lambda: polled_names(config) == ["Evil"])
        shutil.rmtree(v1)  # the kubelet removes the old version afterwards
        time.sleep(1.0)  # a few reload checks with the old version gone
        assert polled_names(config) == ["Evil"]
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "configuration reloaded: 1 feed" in stderr
    assert "reload failed" not in stderr


def in_folder(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command as ``docker compose exec monitor monitor ...`` runs it: in the config folder,
    the config named by MONITOR_CONFIG alone (the image's WORKDIR and ENV)."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=folder,
        env={**os.environ, "HOOK_SECRET": SECRET, "MONITOR_CONFIG": str(folder / "config.toml")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_and_feeds_import_in_the_folder_and_the_service_takes_the_import(
    env: Env, tmp_path: Path, feed_server: FeedServer
) -> None:
    folder, data = tmp_path / "config", tmp_path / "data"
    folder.mkdir()
    data.mkdir()
    shutil.copytree(ROOT / "rules", folder / "rules")
    config = folder / "config.toml"
    config.write_text(folder_text(env, data), encoding="utf-8")
    feed_server.route("/other.xml", handler=env[1].response)
    other = feed_server.url("/other.xml")
    (folder / "subs.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        f'<outline text="Other" title="Other" type="rss" xmlUrl="{other}"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run"],
        cwd=folder,
        env={**os.environ, "HOOK_SECRET": SECRET, "MONITOR_CONFIG": str(config)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: polled_names(config) == ["Live"])
        checked = in_folder(folder, "check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        imported = in_folder(folder, "feeds", "import", "subs.opml")
        assert imported.returncode == 0, imported.stdout + imported.stderr
        assert "1 added" in imported.stdout
        wait_for(lambda: polled_names(config) == ["Live", "Other"])
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
