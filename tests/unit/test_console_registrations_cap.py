"""The console's message page lists a bounded number of registrations at each place among
the reports and counts the rest: one id registered differently 60,000 times made a 22 MB page."""

from __future__ import annotations

from datetime import UTC, datetime

from tracker.domain.registration import CONFLICT, REGISTERED
from tracker.read.models import MessageHistory, RegistrationRecord
from tracker.web.console.timeline import REGISTRATIONS_LISTED, Timeline

AT = datetime(2026, 12, 7, tzinfo=UTC)


def test_a_place_lists_the_first_registrations_and_counts_the_rest():
    records = [RegistrationRecord(AT, 5, REGISTERED, 0, sender="s0")] + [
        RegistrationRecord(AT, 5, CONFLICT, 0, sender=f"s{i}") for i in range(1, 250)
    ]
    history = MessageHistory(5, None, None, 0, 0, [], registration=records[0],
                             registrations=records)  # fmt: skip
    timeline = Timeline.of(history)
    assert len(timeline.registered[0]) == REGISTRATIONS_LISTED
    assert timeline.registered[0][0].sender == "s0"
    assert timeline.registered_more == {0: 250 - REGISTRATIONS_LISTED}
    assert timeline.registration_conflicts == 249  # counted over every one, listed or not
