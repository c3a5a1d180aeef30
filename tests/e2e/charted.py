"""A server whose store holds registered messages sent on several days (for the overview's
charts, the sender and campaign tables, and /metrics by group)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer, served, start_server, stop_server
from tracker.application.commands import Batch, Registering, Status
from tracker.bootstrap import open_tracker
from tracker.config import Settings
from tracker.domain.registration import Registration

HOSTILE = '<script>alert(1)</script> "quoted"\nline'  # a sender's free text, as a client sends it
AGO = (1, 2, 3, 5)  # days before today with three messages of "alpha" each
OLD = 40  # and one message of "beta" this many days ago, outside the default range


def today() -> date:
    return datetime.now(UTC).date()


def day(ago: int) -> str:
    return (today() - timedelta(days=ago)).isoformat()


def fill(database_url: str) -> None:
    """On each day of AGO, alpha sends one message delivered, one not delivered, one pending
    (campaign "spring"); beta one delivered two days ago and one OLD days ago; the hostile
    sender one pending yesterday; 9901 is reported but never registered (sent: its receipt)."""
    now = datetime.now(UTC)
    tracker = open_tracker(Settings(database_url=database_url))

    def sent(id_sms: int, ago: int, sender: str, campaign: str | None = None) -> Registering:
        at = datetime.combine(today() - timedelta(days=ago), datetime.min.time(), UTC)
        registration = Registration(
            sent_at=at + timedelta(hours=9), sender=sender, campaign=campaign
        )
        return Registering(id_sms, registration)

    try:
        registrations, reports = [], []
        for i, ago in enumerate(AGO):
            base = 9000 + 10 * i
            registrations += [sent(base + k, ago, "alpha", "spring") for k in range(3)]
            reports += [Status(base, "deliver", ""), Status(base + 1, "not_deliver", "")]
        registrations += [sent(9101, 2, "beta"), sent(9102, OLD, "beta"), sent(9103, 1, HOSTILE)]
        reports += [Status(9101, "read", ""), Status(9102, "deliver", "")]
        tracker.record_batches([Batch((), registrations=tuple(registrations), received_at=now)])
        tracker.record(reports, received_at=now)
        tracker.record([Status(9901, "send", "")], received_at=now)
    finally:
        tracker.close()


def charted(request, folder: Path, **settings: str) -> Iterator[LiveServer]:
    yield from served(request, folder, fill, **settings)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def charted_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """The messages above, in the server's views once it has started; /metrics open, two
    groups of each dimension by name (the rest: other)."""
    yield from charted(request, tmp_path_factory.mktemp("charted"), metrics_groups="2")


@pytest.fixture(scope="module")
def old_views_server(tmp_path_factory) -> Iterator[LiveServer]:
    """A server on views made before the breakdowns existed (their tables dropped while the
    views were stopped): incomplete until `tracker rebuild`."""
    folder = tmp_path_factory.mktemp("old-views")
    database_url = f"sqlite:///{folder / 'tracker.db'}"
    fill(database_url)
    first = start_server(database_url, folder / "server.log")
    first.settled()
    stop_server(first)
    with sqlite3.connect(folder / "tracker.views.db") as views:
        views.execute("DROP TABLE breakdown")
        views.execute("DROP TABLE breakdown_times")
    server = start_server(database_url, folder / "server.log")
    try:
        server.settled()
        yield server
    finally:
        stop_server(server)
