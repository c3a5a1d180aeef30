"""Writing a large, realistic event history fast: whole messages saved in big transactions.

A message gets its three or so reports at once (send, then deliver and read, or a failure), out
of order half of the time, so nothing has to be loaded before saving. For benchmarks and tests
that need hundreds of thousands of events; the webhook path is measured by bench/ingest.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tracker.application import Tracker
from tracker.domain.message import Message
from tracker.domain.status import Report
from tracker.domain.timestamps import parse_time

PATHS = [
    ("send", "deliver", "read"),
    ("send", "deliver", "read"),
    ("send", "partly_deliver", "expired"),
    ("send", "deliver", "not_deliver"),
    ("send", "deliver"),
]
START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def write_history(
    tracker: Tracker, events: int, *, seed: int = 0, first_id: int = 1, per_save: int = 1000
) -> int:
    """Store about ``events`` report events; returns how many were stored."""
    rnd = random.Random(seed)
    stored, id_sms = 0, first_id
    while stored < events:
        messages: list[Message] = []
        for _ in range(per_save // 3):
            received = START + timedelta(seconds=id_sms // 10)
            reports = []
            for step, state in enumerate(rnd.choice(PATHS)):
                raw = (
                    ""
                    if state == "send"
                    else (received + timedelta(hours=3, minutes=step)).strftime("%Y-%m-%d %H:%M:%S")
                )
                reports.append(Report(state, raw, parse_time(raw, tracker.local_zone)))
            if rnd.random() < 0.5:
                rnd.shuffle(reports)
            message = Message(id_sms)
            for step, report in enumerate(reports):
                message.receive(report, received + timedelta(seconds=step))
            messages.append(message)
            stored += len(reports)
            id_sms += 1
        # The event store directly: Application.save() checks every aggregate against runtime
        # protocols, which costs more than the rest of this loop.
        tracker.events.put([e for m in messages for e in m.collect_events()])
    return stored
