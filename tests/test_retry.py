"""A failed delivery's fate: plain values in, a Retry or a DeadLetter out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerts.retry import DeadLetter, Retry, after_failure
from monitor.config import DeliverySettings

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
S = DeliverySettings(max_attempts=5, max_age=86400.0, backoff=10.0, max_backoff=60.0)
MID = 0.5  # the jitter draw that leaves the backoff as it is


def fate(
    attempts: int,
    *,
    age: float = 0.0,
    jitter: float = MID,
    permanent: bool = False,
    retry_after: float | None = None,
) -> Retry | DeadLetter:
    return after_failure(
        attempts=attempts,
        created=NOW - timedelta(seconds=age),
        error="HTTP 503",
        now=NOW,
        settings=S,
        jitter=jitter,
        permanent=permanent,
        retry_after=retry_after,
    )


def wait(outcome: Retry | DeadLetter) -> float:
    return (outcome.at - NOW).total_seconds()


@pytest.mark.parametrize(
    ("attempts", "jitter", "retry_after", "seconds"),
    [
        (1, MID, None, 10.0),  # the first retry waits the backoff
        (2, MID, None, 20.0),  # doubling per attempt
        (3, MID, None, 40.0),
        (4, MID, None, 60.0),  # up to max_backoff
        (1, 0.0, None, 5.0),  # the jitter spreads it from half...
        (1, 0.999, None, 14.99),  # ... to one and a half times
        (4, 0.0, None, 30.0),  # max_backoff too
        (1, MID, 300.0, 300.0),  # Retry-After when it asks for longer...
        (3, MID, 1.0, 40.0),  # ... never shorter than the backoff
        (3, MID, 0.0, 40.0),
    ],
)
def test_retry_backoff(
    attempts: int, jitter: float, retry_after: float | None, seconds: float
) -> None:
    outcome = fate(attempts, jitter=jitter, retry_after=retry_after)
    assert isinstance(outcome, Retry)
    assert outcome.error == "HTTP 503"
    assert wait(outcome) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("attempts", "age", "permanent", "error"),
    [
        # The attempt limit, this attempt included.
        (5, 0.0, False, "HTTP 503 (gave up after 5 attempts)"),
        (9, 0.0, False, "HTTP 503 (gave up after 9 attempts)"),
        # The age limit, whatever the attempts.
        (1, 86400.0, False, "HTTP 503 (gave up after 1 attempts)"),
        (2, 2 * 86400.0, False, "HTTP 503 (gave up after 2 attempts)"),
        # Refused for good: dead at once, and the error says only why.
        (1, 0.0, True, "HTTP 503"),
        (5, 86400.0, True, "HTTP 503"),
    ],
)
def test_dead_letter(attempts: int, age: float, permanent: bool, error: str) -> None:
    outcome = fate(attempts, age=age, permanent=permanent)
    assert isinstance(outcome, DeadLetter)
    assert outcome.error == error


@pytest.mark.parametrize(("attempts", "age"), [(4, 0.0), (1, 86399.0)])
def test_just_inside_the_limits_is_retried(attempts: int, age: float) -> None:
    assert isinstance(fate(attempts, age=age), Retry)


def test_a_dead_letter_keeps_the_time_a_retry_would_have() -> None:
    # `monitor alerts` shows it as the dead message's next attempt, as it always has.
    assert wait(fate(5)) == 60.0
    assert wait(fate(1, permanent=True)) == 10.0
    assert wait(fate(1, permanent=True, retry_after=90.0)) == 90.0


def test_no_overflow_after_very_many_attempts() -> None:
    outcome = fate(5000)
    assert isinstance(outcome, DeadLetter)
    assert wait(outcome) == 60.0
