"""One worker of a shared (PostgreSQL) archive polling a served farm.

Started by ``bench/ingest.py --archive postgresql://...``, several at once:
``python run_shared.py SPEC_JSON``. Prints ``READY`` once it is set up, waits for a line on
stdin (so that every worker starts together), then polls as ``monitor run`` does, a round
of claimed feeds at a time, until no feed is left due; prints one line ``RESULT <json>``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from farm import load_farm
from run_ours import cpu_seconds, stop_forkserver, write_config

# Empty polls in a row after which no feed is left due (feeds are new: due at once).
IDLE_POLLS = 3


def main() -> None:
    # Here, not at the top: see run_ours.py.
    from monitor import aio
    from monitor.archive import open_archive
    from monitor.config import load_config
    from monitor.poll.poller import Poller

    spec = json.loads(sys.argv[1])
    work = Path(spec["work"])
    work.mkdir(parents=True, exist_ok=True)
    farm = load_farm(Path(spec["farm"]))
    config_path = work / "config.toml"
    write_config(config_path, [spec["base_url"] + p for p in farm.paths], spec)
    config = load_config(config_path)
    archive = open_archive(config.archive_url)
    poller = Poller(config, archive)
    print("READY", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    cpu = cpu_seconds(resource.RUSAGE_SELF)
    polled = failed = new = 0
    errors: set[str] = set()
    try:
        idle = 0
        while idle < IDLE_POLLS:  # another worker's feeds may fall due a moment later
            summary = aio.run(poller.poll())
            if not summary.outcomes:
                idle += 1
                time.sleep(0.1)
                continue
            idle = 0
            polled += len(summary.outcomes)
            failed += summary.count("failed")
            new += summary.new_stories
            errors.update(o.error for o in summary.outcomes if o.error)
    finally:
        wall = time.perf_counter() - started
        poller.close()
        archive.close()
        stop_forkserver()
    result = {
        "polled": polled,
        "failed": failed,
        "new": new,
        "wall_s": wall,
        "main_cpu_s": cpu_seconds(resource.RUSAGE_SELF) - cpu,
        "children_cpu_s": cpu_seconds(resource.RUSAGE_CHILDREN),
        "errors": sorted(errors)[:5],
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
