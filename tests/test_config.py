from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import archive_url_despite_errors, load_config, salvage_setting
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


def test_every_mistake_is_reported_at_once_with_its_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """[fetch]
concurrency = 0
max_bytes = "lots"

[[feeds]]
url = "https://a.example/rss"
name = "A"

[[feeds]]
name = "Example News"
url = "https://b.example/rss"
  interval = "soon"
colour = "red"

[notifiers.desk]
type = "email"
password = "hunter2"

[notifiers]
hook = { type = "webhook", url = "ftp://x" }
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).splitlines() == [
        f"{path}:2:1: fetch.concurrency: expected a positive integer, got 0; at least 1",
        f'{path}:3:1: fetch.max_bytes: expected a size like "10MB", got "lots"',
        f"{path}:12:3: feeds[1] (Example News).interval: "
        'expected a duration like "15m", got "soon"',
        f"{path}:13:1: feeds[1] (Example News).colour: "
        "unknown key (expected one of: url, name, tags, interval, full_article, backlog_alerts, "
        "proxy, proxy_env, headers, user_agent, username, password_env, url_env, discover)",
        f"{path}:17:1: notifiers.desk.password: secrets are not read from the config file; "
        "set password_env to the name of an environment variable",
        f'{path}:20:28: notifiers.hook.url: expected an http(s) URL, got "ftp://x"',
    ]
    assert [p.key for p in info.value.problems][:2] == ["fetch.concurrency", "fetch.max_bytes"]
    assert "hunter2" not in str(info.value)


def test_a_toml_syntax_error_has_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, '[fetch]\ntimeout = "1s"\n[feeds\nurl = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:3:7: not valid TOML: ")
    assert "(at line" not in str(info.value)


def test_a_feed_without_a_name_is_named_by_its_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feeds]]\nurl = "https://a.example/rss"\nfull_article = "maybe"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(
        f"{path}:3:1: feeds[0] (https://a.example/rss).full_article: expected true, false"
    )


def test_feeds_in_an_array_of_inline_tables_are_located_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'feeds = [\n  { url = "https://a.example/rss" },\n  { url = "https://b.example/rss",'
        ' interval = "often" },\n]\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:3:36: feeds[1] (https://b.example/rss).interval")


@pytest.mark.parametrize(
    ("url", "meant"),
    [
        ("www.example.org/feed.xml", "https://www.example.org/feed.xml"),
        ("example.org/rss", "https://example.org/rss"),
        ("news.example.co.uk", "https://news.example.co.uk"),
        ("example.org:8080/rss", "https://example.org:8080/rss"),
        ("localhost:8080/feed.xml", "http://localhost:8080/feed.xml"),
        ("127.0.0.1/feed", "http://127.0.0.1/feed"),
        ("//example.org/rss", "https://example.org/rss"),
        ("feed://example.org/rss", "https://example.org/rss"),
        ("feed:https://example.org/rss", "https://example.org/rss"),
    ],
)
def test_a_web_address_without_its_scheme_gets_a_hint(tmp_path: Path, url: str, meant: str) -> None:
    path = write(tmp_path, f'[[feeds]]\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "feeds[0].url" and info.value.line == 2
    assert str(info.value).endswith(f'got "{url}"; did you mean "{meant}"?')


@pytest.mark.parametrize(
    "url",
    ["./x.xml", "../x.xml", "/abs/x.xml", "feed.xml", "samples/feeds/x.xml", "file:///srv/x.xml"],
)
def test_local_paths_stay_paths(tmp_path: Path, url: str) -> None:
    (tmp_path / "cfg").mkdir()
    config = load_config(write(tmp_path / "cfg", f'[[feeds]]\nurl = "{url}"\n'))
    assert config.feeds[0].url.startswith("file:///")


def test_an_existing_path_that_looks_like_a_host_is_a_path(tmp_path: Path) -> None:
    (tmp_path / "example.org").mkdir()
    (tmp_path / "example.org" / "rss").write_text("<rss/>")
    config = load_config(write(tmp_path, '[[feeds]]\nurl = "example.org/rss"\n'))
    assert config.feeds[0].url == (tmp_path / "example.org" / "rss").resolve().as_uri()


def test_feed_urls_are_compared_as_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[feeds]]\nurl = "https://Example.org/rss"\nname = "First"\n'
        '[[feeds]]\nurl = "HTTPS://example.ORG:443/rss#top"\nname = "Second"\n'
        '[[feeds]]\nurl = "https://example.org/rss?page=2"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1
    assert str(info.value) == f"{path}:5:1: feeds[1] (Second).url: duplicate of feeds[0] (First)"


def test_time_zone(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).schedule.timezone == "UTC"
    config = load_config(write(tmp_path, '[schedule]\ntimezone = "Europe/Berlin"\n'))
    assert str(config.schedule.zone) == "Europe/Berlin"
    for name in ("Mars/Olympus_Mons", "Europe", "../../etc/passwd", ""):
        path = write(tmp_path, f'[schedule]\ntimezone = "{name}"\n')
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert str(info.value) == (
            f"{path}:2:1: schedule.timezone: expected an IANA time zone name like "
            f'"Europe/Berlin", got "{name}"'
        )


def test_the_archive_location_is_read_from_a_file_that_does_not_load(tmp_path: Path) -> None:
    base = tmp_path.resolve()
    path = write(tmp_path, '[archive]\nurl = "sqlite:///data/m.db"\n\n[fetch\n')
    assert archive_url_despite_errors(path) == (f"sqlite:///{base / 'data' / 'm.db'}", True)
    path = write(tmp_path, "[fetch\n")
    assert archive_url_despite_errors(path) == (f"sqlite:///{base / 'archive/monitor.db'}", False)
    path = write(tmp_path, '[schedule]\ntimezone = "Europe/Berlin"\nworkers = "x"\n')
    assert salvage_setting(path, "schedule", "timezone") == "Europe/Berlin"
    assert salvage_setting(tmp_path / "missing.toml", "archive", "url") is None


# -- limits of numbers, durations and sizes ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[schedule]\ndefault_interval = nan\n", "schedule.default_interval", "got nan"),
        ("[schedule]\ndefault_interval = inf\n", "schedule.default_interval", "got inf"),
        ("[schedule]\nmax_backoff = -inf\n", "schedule.max_backoff", "got -inf"),
        ("[schedule]\nmin_interval = -5\n", "schedule.min_interval", "got -5"),
        ("[schedule]\nbacklog_alerts = inf\n", "schedule.backlog_alerts", "got inf"),
        ("[schedule]\nparse_timeout = 1e300\n", "schedule.parse_timeout", "; at most 1h"),
        ('[schedule]\nmax_interval = "999999999d"\n', "schedule.max_interval", "; at most 30d"),
        ('[schedule]\nmax_interval = "' + "9" * 400 + 's"\n', "schedule.max_interval", "got"),
        ("[schedule]\nworkers = 100000\n", "schedule.workers", "; at most 256"),
        ('[fetch]\ntimeout = "500ms"\n', "fetch.timeout", '"500ms"; at least 1s'),
        ('[fetch]\nmax_bytes = "99999999999GB"\n', "fetch.max_bytes", "; at most 1GiB"),
        ('[fetch]\nmax_bytes = "' + "9" * 400 + '"\n', "fetch.max_bytes", "expected a size"),
        ("[fetch]\nmax_bytes = 10\n", "fetch.max_bytes", "; at least 1KiB"),
        ("[fetch]\nconcurrency = nan\n", "fetch.concurrency", "got nan"),
        ("[fetch]\nconcurrency = 9223372036854775807\n", "fetch.concurrency", "; at most 1024"),
        ("[fetch]\nmax_redirects = -1\n", "fetch.max_redirects", "; at least 0"),
        ('[fetch]\nhost_spacing = "2h"\n', "fetch.host_spacing", "; at most 1h"),
        ("[delivery]\nmax_attempts = 0\n", "delivery.max_attempts", "; at least 1"),
        ('[delivery]\nmax_age = "1000000w"\n', "delivery.max_age", "; at most 365d"),
        ("[service]\ntick = 0.01\n", "service.tick", "; at least 100ms"),
        ("[service]\nmetrics_port = 70000\n", "service.metrics_port", "; at most 65535"),
        ("[articles]\nshort_words = -1\n", "articles.short_words", "; at least 0"),
        (
            '[[feeds]]\nurl = "https://a.example/rss"\ninterval = "500ms"\n',
            "feeds[0].interval",
            '"500ms"; at least 1s',
        ),
        (
            '[[feeds]]\nurl = "https://a.example/rss"\ninterval = "999999999d"\n',
            "feeds[0].interval",
            "; at most 30d",
        ),
        (
            '[[feeds]]\nurl = "https://a.example/rss"\nbacklog_alerts = nan\n',
            "feeds[0].backlog_alerts",
            "got nan",
        ),
        (
            '[notifiers.hook]\ntype = "webhook"\nurl = "https://h.example/x"\ntimeout = "1d"\n',
            "notifiers.hook.timeout",
            "; at most 10m",
        ),
    ],
)
def test_numbers_outside_their_limits_are_refused_at_load(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert info.value.line is not None  # placed in the file, at its key
    assert message in str(info.value)


def test_values_at_their_limits_load(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[fetch]\ntimeout = "1h"\nmax_bytes = "1GiB"\nhost_spacing = "0s"\n'
            '[schedule]\nmax_interval = "30d"\nbacklog_alerts = "3650d"\nworkers = 0\n'
            '[service]\ntick = "100ms"\n'
            '[[feeds]]\nurl = "https://a.example/rss"\ninterval = "1s"\nbacklog_alerts = "all"\n',
        )
    )
    assert config.fetch.max_bytes == 1024**3
    assert config.schedule.max_interval == 30 * 86400
    assert config.feeds[0].interval == 1.0


def test_every_limit_is_documented() -> None:
    from monitor.config import LIMITS

    docs = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Limits") :]
    for key in LIMITS:
        assert f"`{key}`" in section, key


def test_a_feed_url_with_credentials_is_shown_redacted_in_mistakes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[feeds]]\nurl = "https://reader:s3cr3t@a.example/rss?token=PLANTED"\ninterval = "x"\n'
        '[[feeds]]\nurl = "https://reader:s3cr3t@A.example/rss?token=PLANTED"\n'
        '[archive]\nurl = "mysql://admin:hunter22@db.example/news"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    shown = str(info.value)
    assert "feeds[0] (https://reader:***@a.example/rss?token=***).interval" in shown
    assert "duplicate of feeds[0] (https://reader:***@a.example/rss?token=***)" in shown
    assert "s3cr3t" not in shown and "PLANTED" not in shown and "hunter22" not in shown


def test_a_webhook_url_in_a_mistake_is_shown_up_to_its_first_segment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[notifiers.hook]\ntype = "webhook"\nurl = "htps://hooks.example/news/Zq0tKsecret"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert 'got "htps://hooks.example/news/***"' in str(info.value)
    assert "Zq0tK" not in str(info.value)


def test_a_symlinked_config_keeps_its_paths_beside_the_link(tmp_path: Path) -> None:
    # A Kubernetes ConfigMap: config.toml -> ..data/config.toml, ..data -> ..v1
    (tmp_path / "..v1").mkdir()
    (tmp_path / "..v1" / "config.toml").write_text('[rules]\npath = "rules"\n', encoding="utf-8")
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "config.toml").symlink_to("..data/config.toml")
    config = load_config(tmp_path / "config.toml")
    assert config.rules_path == tmp_path / "rules"
    assert config.archive_url == f"sqlite:///{tmp_path / 'archive' / 'monitor.db'}"
