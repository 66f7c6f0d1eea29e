import pytest

from monitor.units import parse_duration, parse_size


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
