"""A wall clock that a test steps: libfaketime preloaded into the process under test.

libfaketime (Debian's ``faketime`` package) reads the offset from the file named by
FAKETIME_TIMESTAMP_FILE at every clock read (FAKETIME_NO_CACHE), so rewriting the file
steps the process's wall clock at once, as ``date -s`` or an NTP step would. The monotonic
clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC), as a real step leaves it. Child
processes inherit the environment and so the same clock.

Under CI (``MONITOR_CI`` set, as ``.ci/run`` does) a missing libfaketime fails the test
instead of skipping it: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parent / "faketime_site"
# Where distributions put it; the multi-threaded build, as the service runs threads.
_PLACES = (
    "/usr/lib/x86_64-linux-gnu/faketime",
    "/usr/lib/aarch64-linux-gnu/faketime",
    "/usr/lib64/faketime",
    "/usr/lib/faketime",
    "/usr/local/lib/faketime",
)


def library() -> Path | None:
    for place in _PLACES:
        path = Path(place) / "libfaketimeMT.so.1"
        if path.is_file():
            return path
    return None


def require_library() -> Path:
    path = library()
    if path is None:
        why = "libfaketime is not installed (apt-get install faketime)"
        if os.environ.get("MONITOR_CI"):
            pytest.fail(f"{why}; CI must run this test")
        pytest.skip(why)
    return path


class SteppedClock:
    """The offset of a process's wall clock from the real one, changed while it runs."""

    def __init__(self, folder: Path) -> None:
        self.library = require_library()
        self.file = folder / "faketime.rc"
        self.set(0)

    def set(self, offset: int) -> None:
        """Step the wall clock to ``offset`` seconds from the real time."""
        # Written whole and renamed: libfaketime may read the file at any moment.
        draft = self.file.with_suffix(".tmp")
        draft.write_text(f"{offset:+d}\n", encoding="ascii")
        os.replace(draft, self.file)

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        return {
            "LD_PRELOAD": str(self.library),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": f"{SITE}{os.pathsep}{path}" if path else str(SITE),
        }
