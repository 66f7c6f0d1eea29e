import pytest

from monitor.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1s", 1), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "15", "m", "1x", "15m soon"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_sizes() -> None:
    assert parse_size("10MB") == 10_000_000
    assert parse_size("1MiB") == 1_048_576
    assert parse_size("512") == 512
    with pytest.raises(ValueError):
        parse_size("lots")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "500ms"),
        (1, "1s"),
        (45, "45s"),
        (90, "1m30s"),
        (852.4, "14m12s"),
        (900, "15m"),
        (5400, "1h30m"),
        (3605, "1h"),  # two units at most
        (86400, "1d"),
        (6 * 86400 + 7 * 3600, "6d7h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
