"""The msgspec transcoder writes eventsourcing's own JSON format, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given
from hypothesis import strategies as st

from tracker.application import Status
from tracker.stores.transcoder import MsgspecTranscoder


def registered(transcoder):
    Application.register_transcodings(None, transcoder)  # the transcodings every app registers
    return transcoder


LIBRARY, OURS = registered(JSONTranscoder()), registered(MsgspecTranscoder())

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=3)), None])
LEAVES = (
    st.text()
    | st.integers(-(2**63), 2**63 - 1)
    | st.booleans()
    | st.none()
    | st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), ZONES)
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
)
STATES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), STATES, max_size=6))
def test_both_write_the_same_bytes_and_each_reads_what_the_other_wrote(state):
    ours = OURS.encode(state)
    assert ours == LIBRARY.encode(state)
    assert LIBRARY.decode(ours) == OURS.decode(ours) == LIBRARY.decode(LIBRARY.encode(state))


def test_the_trackers_own_events_are_stored_in_the_librarys_format(tracker):
    tracker.record([Status(1, "send", ""), Status(1, "deliver", "2024-05-01 10:00:00", '{"x":1}')])
    stored = tracker.recorder.select_events(tracker._load(1).id)
    assert len(stored) == 2
    for record in stored:
        state = LIBRARY.decode(record.state)  # what the library alone makes of our bytes
        assert LIBRARY.encode(state) == record.state
        assert isinstance(state["received_at"], datetime)


def test_a_transcoding_it_does_not_know_is_refused_as_the_library_refuses_it():
    for transcoder in (LIBRARY, OURS):
        with pytest.raises(TranscodingNotRegisteredError, match="not serializable"):
            transcoder.encode({"x": object()})
    assert OURS.decode(OURS.encode({"d": Decimal("1.5"), "u": UUID(int=5)})) == {
        "d": Decimal("1.5"),
        "u": UUID(int=5),
    }
