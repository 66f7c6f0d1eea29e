from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    config = load_config(ROOT / "config.toml")
    assert config.archive_url == f"sqlite:///{ROOT / 'archive' / 'monitor.db'}"
    assert config.rules_path == ROOT / "rules"
    assert [f.name for f in config.feeds] == ["Example World News", "Example Wire Service"]
    assert all(f.url.startswith("file://") for f in config.feeds)
    assert config.feeds[1].interval == 1800
    assert config.feeds[0].tags == ("sample", "world")


def test_defaults_when_empty(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.archive_url == f"sqlite:///{tmp_path.resolve() / 'archive' / 'monitor.db'}"
    assert config.feeds == ()
    assert config.fetch.max_bytes > 0
    assert config.schedule.parse_timeout == 60.0


def test_parse_timeout_takes_a_duration(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[schedule]\nparse_timeout = "1500ms"\n'))
    assert config.schedule.parse_timeout == 1.5


def test_full_feed_table(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
            [[feeds]]
            url = "https://example.org/rss"
            name = "Example"
            tags = ["a", "b"]
            interval = "1h30m"
            full_article = "auto"

            [[feeds]]
            url = "https://example.org/atom"
            full_article = true
            """,
        )
    )
    first, second = config.feeds
    assert (first.interval, first.full_article, first.tags) == (5400, "auto", ("a", "b"))
    assert second.name == "example.org" and second.full_article == "always"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            "".join(f'[[feeds]]\nurl="{n}"\n' for n in "abc")
            + '[[feeds]]\nurl="d"\ninterval = "soon"\n',
            "feeds[3].interval",
            'expected a duration like "15m", got "soon"',
        ),
        ('[[feeds]]\nname = "x"\n', "feeds[0].url", "missing"),
        ('[[feeds]]\nurl = "a"\n[[feeds]]\nurl = "a"\n', "feeds[1].url", "duplicate of feeds[0]"),
        ('[[feeds]]\nurl = "a"\ncolour = 1\n', "feeds[0].colour", "unknown key"),
        ('[[feeds]]\nurl = "a"\nfull_article = "maybe"\n', "feeds[0].full_article", "expected"),
        ('[[feeds]]\nurl = "a"\ntags = "x"\n', "feeds[0].tags", "expected an array of strings"),
        ('[fetch]\nmax_bytes = "lots"\n', "fetch.max_bytes", 'expected a size like "10MB"'),
        ("[fetch]\nconcurrency = 0\n", "fetch.concurrency", "positive"),
        ('[archive]\nurl = "mysql://x"\n', "archive.url", "expected a URL"),
        ('[notifiers.desk]\ntype = "pigeon"\n', "notifiers.desk.type", "expected one of"),
        ("colour = 1\n", "colour", "unknown key"),
        ('[schedule]\nmin_interval = "2d"\nmax_interval = "1d"\n', "schedule.min_interval", ""),
        ('[schedule]\nparse_timeout = "0s"\n', "schedule.parse_timeout", "expected a duration"),
    ],
)
def test_mistakes_name_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}:{info.value.line}:")
    assert f": {key}: " in str(info.value) or f": {key.split('.')[0]} (" in str(info.value)
    assert message in str(info.value)


def test_secret_in_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[notifiers.desk]\ntype = "email"\npassword = "hunter2-very-secret"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "notifiers.desk.password"
    assert "password_env" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[feeds\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config("/nonexistent/config.toml")


def test_local_paths_resolve_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    config = load_config(write(tmp_path, '[[feeds]]\nurl = "feeds/a.xml"\n'))
    assert config.feeds[0].url == (tmp_path / "feeds" / "a.xml").resolve().as_uri()
