"""A server whose store already holds messages first received days ago (for overdue messages)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import LiveServer, served
from tracker.application import Status
from tracker.bootstrap import open_tracker
from tracker.config import Settings

HOUR = timedelta(hours=1)
TIME = "2026-03-01 12:00:00"
# id_sms: what it is at the server's start, with the default TRACKER_OVERDUE_AFTER (72h).
OVERDUE = [8001, 8004]  # 73 h, not final; first received 80 h ago, a report an hour ago
NOT_OVERDUE = [8002, 8003]  # final 73 h ago; 71 h, not final


def fill(database_url: str) -> None:
    """The store's history, received when it says (before the server runs: one clock)."""
    now = datetime.now(UTC)
    tracker = open_tracker(Settings(database_url=database_url))
    try:
        tracker.record([Status(8004, "send", "")], received_at=now - 80 * HOUR)
        tracker.record(
            [Status(8001, "send", ""), Status(8002, "read", TIME)], received_at=now - 73 * HOUR
        )
        tracker.record([Status(8003, "send", "")], received_at=now - 71 * HOUR)
        tracker.record([Status(8004, "deliver", TIME)], received_at=now - HOUR)
    finally:
        tracker.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def aged_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """A server on a store with the messages above, in its views once it has started."""
    yield from served(request, tmp_path_factory.mktemp("aged"), fill)
