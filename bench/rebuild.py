"""Rebuild benchmark: rebuilding the views from N events, beside the store's raw read rate.

    .venv/bin/python bench/rebuild.py [--store sqlite|postgres|both] [--events 1000000]

For each store, in one run: write a history of N events (bench/history.py), then measure
(1) the raw read-back rate of the same events: every report event selected in pages of 5,000
in notification order, with and without decoding its JSON; (2) `tracker rebuild` in a process
of its own, its events/s and its peak memory (VmHWM). Prints a Markdown table of the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import drop, fresh_store, print_table
from bench.history import write_history
from tracker.bootstrap import open_tracker
from tracker.config import Settings
from tracker.views.log import EventLog

REBUILD = """
import json, sys, time
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.views.projector import rebuild
tracker = open_tracker(Settings(database_url=sys.argv[1], create_tables=False))
result = rebuild(tracker, open_views(tracker))
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"events": result.events, "seconds": result.seconds, "peak_kb": int(peak)}))
"""


def raw_read_rates(tracker) -> tuple[float, float]:
    """(rows/s selected, events/s selected and decoded), reading pages of 5,000 as a rebuild."""
    log = EventLog(tracker)
    head = log.head()
    decode = msgspec.json.Decoder().decode
    rates = []
    for decoding in (False, True):
        rows, after = 0, 0
        began = time.perf_counter()
        while after < head:
            with log.datastore.transaction(commit=False) as cursor:
                cursor.execute(log.select, (after, head, 5000))
                page = cursor.fetchall()
            if not page:
                break
            if decoding:
                for row in page:
                    decode(row["state"])
            rows += len(page)
            after = page[-1]["notification_id" if log.postgres else "rowid"]
        rates.append(rows / (time.perf_counter() - began))
    return rates[0], rates[1]


def run_store(kind: str, events: int) -> dict:
    url, schema = fresh_store(kind, Path(tempfile.mkdtemp(prefix="tracker-rebuild-")), "tracker")
    try:
        tracker = open_tracker(Settings(database_url=url))
        began = time.perf_counter()
        written = write_history(tracker, events)
        write_seconds = time.perf_counter() - began
        select_rate, read_rate = raw_read_rates(tracker)
        tracker.close()
        out = subprocess.run(
            [sys.executable, "-c", REBUILD, url], capture_output=True, text=True, check=True
        )
        rebuilt = json.loads(out.stdout)
    finally:
        drop(schema)
    rate = rebuilt["events"] / rebuilt["seconds"]
    return {
        "store": kind,
        "events": written,
        "write_events_per_s": round(written / write_seconds),
        "raw_select_per_s": round(select_rate),
        "raw_read_decode_per_s": round(read_rate),
        "rebuild_events_per_s": round(rate),
        "ratio_to_read_decode": round(rate / read_rate, 3),
        "ratio_to_select": round(rate / select_rate, 3),
        "peak_rss_mb": round(rebuilt["peak_kb"] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results = [run_store(kind, args.events) for kind in kinds]
    print_table(
        ["store", "events", "raw select /s", "raw select + decode /s", "rebuild events/s",
         "rebuild / (select + decode)", "rebuild / select", "rebuild peak RSS MB"],
        [[r["store"], f"{r['events']:,}", f"{r['raw_select_per_s']:,}",
          f"{r['raw_read_decode_per_s']:,}", f"{r['rebuild_events_per_s']:,}",
          f"{r['ratio_to_read_decode']:.0%}", f"{r['ratio_to_select']:.0%}", r["peak_rss_mb"]]
         for r in results],
    )  # fmt: skip
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
