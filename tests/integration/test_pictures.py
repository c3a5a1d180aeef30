"""The overview's pictures read from real stores: the top senders and how many more, one
sparkline point a day of the range, the days drawn those of the range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tracker.application.commands import Batch, Registering, Status
from tracker.bootstrap import open_views
from tracker.domain.registration import Registration
from tracker.views.projector import Projector
from tracker.web.console.pictures import TOP_GROUPS, pictures

FIRST = date(2026, 12, 1)


@pytest.fixture
def views(tracker):
    return open_views(tracker)


def test_the_top_senders_are_tabled_and_the_rest_counted(tracker, views):
    """TOP_GROUPS + 2 senders, sender i with i + 1 messages on day i % 3 of the range."""
    registrations = []
    id_sms = 1000
    for i in range(TOP_GROUPS + 2):
        sent = datetime.combine(FIRST + timedelta(days=i % 3), datetime.min.time(), UTC)
        for _ in range(i + 1):
            id_sms += 1
            registration = Registration(sent_at=sent, sender=f"s{i:02d}", campaign="c")
            registrations.append(Registering(id_sms, registration))
    tracker.record_batches([Batch((), registrations=tuple(registrations))])
    tracker.record([Status(1001, "deliver", "")])
    Projector(tracker, views).catch_up()

    found = pictures(views, FIRST, FIRST + timedelta(days=6))

    assert found.days == [(FIRST + timedelta(days=d)).isoformat() for d in range(7)]
    senders, campaigns = found.tables
    assert [r.group.key for r in senders.rows] == [
        f"s{i:02d}" for i in range(TOP_GROUPS + 1, 1, -1)
    ]  # the most messages first; s00 and s01 left out
    assert senders.more == 2 and campaigns.more == 0
    assert found.total.messages == sum(range(1, TOP_GROUPS + 3))
    assert [p.day for p in found.per_day] == found.days[:3]  # the days anything was sent
    top = senders.rows[0]
    assert top.busiest == TOP_GROUPS + 2
    assert len(top.spark.split()) == 7  # a point a day of the range, 0 where none were sent
    assert len(found.volume.x_labels) == 7
    assert len(found.rate.series[0].points) == 1  # one day with a known outcome
