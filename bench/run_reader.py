"""Runs lemon24/reader on a served farm: a cold update into an empty database, then re-polls.

Runs under reader's own venv (started by ``bench/ingest.py``):
``python run_reader.py SPEC_JSON``. Needs nothing from this project but the farm's
manifest. Prints one line ``RESULT <json>`` on stdout.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import reader as reader_lib


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def update(reader: Any, workers: int) -> tuple[float, float, dict[str, int], list[str]]:
    tally: Counter[str] = Counter()
    errors: list[str] = []
    cpu = cpu_seconds()
    started = time.perf_counter()
    for result in reader.update_feeds_iter(scheduled=False, workers=workers):
        if result.error is not None:
            tally["failed"] += 1
            errors.append(f"{result.url}: {result.error!r}")
        elif result.value is None:
            tally["unchanged"] += 1  # not modified
        else:
            tally["updated"] += 1
            tally["new"] += result.value.new
            tally["changed"] += result.value.modified
    return time.perf_counter() - started, cpu_seconds() - cpu, dict(tally), errors[:5]


def main() -> None:
    spec = json.loads(sys.argv[1])
    manifest = json.loads((Path(spec["farm"]) / "manifest.json").read_text())
    base = spec["base_url"]
    workers = int(spec["workers"])
    reader = reader_lib.make_reader(str(Path(spec["work"]) / "reader.sqlite"))
    for path in manifest["paths"]:
        reader.add_feed(base + path)

    result: dict[str, Any] = {"version": reader_lib.__version__, "workers": workers}
    result["cold_s"], result["cold_cpu_s"], result["cold"], cold_errors = update(reader, workers)
    # As ours: ``repolls`` re-polls, their median figures.
    again = [update(reader, workers) for _ in range(spec.get("repolls", 1))]
    result["repoll_s"] = statistics.median(run[0] for run in again)
    result["repoll_cpu_s"] = statistics.median(run[1] for run in again)
    result["repoll_runs_s"] = [run[0] for run in again]
    result["repoll"] = again[-1][2]
    result["errors"] = cold_errors + [e for run in again for e in run[3]]

    expected = {(base + path, guid, link) for path, pairs in manifest["paths"].items()
                for guid, link in pairs}  # fmt: skip
    found = Counter((e.feed_url, e.id, e.link) for e in reader.get_entries())
    result["verify"] = {
        "entries": sum(found.values()),
        "expected": len(expected),
        "exactly_once": set(found) == expected and all(n == 1 for n in found.values()),
    }
    reader.close()
    result["main_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
