"""What becomes of a message after a failed delivery: tried again later, or dead-lettered.

Pure: the deliverer passes the attempt count, the time, and the random draw for the
jitter; it records and logs what this says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import DeliverySettings


@dataclass(frozen=True, kw_only=True, slots=True)
class Retry:
    error: str
    at: datetime  # the next attempt


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter:
    error: str  # says so when a limit gave it up
    # Stored as the message's next attempt, as a retry's would be; `monitor alerts` shows
    # it, and nothing is attempted at it.
    at: datetime


def after_failure(
    *,
    attempts: int,
    created: datetime,
    error: str,
    now: datetime,
    settings: DeliverySettings,
    jitter: float,
    permanent: bool = False,
    retry_after: float | None = None,
) -> Retry | DeadLetter:
    """The fate of a message created at ``created`` whose ``attempts``-th attempt (this one
    included) failed at ``now`` with ``error``.

    ``permanent``: the receiver refused it for good. Otherwise it is tried again after an
    exponential backoff (``settings.backoff`` doubling per attempt, up to ``max_backoff``),
    spread by ``jitter`` (a draw in [0, 1): 0.5x to 1.5x, so receivers that failed together
    are not retried together), and never sooner than the receiver's ``retry_after``
    seconds; until ``max_attempts`` attempts or ``max_age`` seconds of age give it up.
    """
    s = settings
    doubled = s.backoff * 2.0 ** min(attempts - 1, 64)  # capped: a float, never an overflow
    delay = min(doubled, s.max_backoff) * (0.5 + jitter)
    if retry_after is not None:
        delay = max(delay, retry_after)
    at = now + timedelta(seconds=delay)
    if permanent:
        return DeadLetter(error=error, at=at)
    if attempts >= s.max_attempts or now - created >= timedelta(seconds=s.max_age):
        return DeadLetter(error=f"{error} (gave up after {attempts} attempts)", at=at)
    return Retry(error=error, at=at)
