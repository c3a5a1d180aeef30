"""What crosses the socket between a server process and the writer process comes out as it went
in: every batch the webhook can make, every receipt the writer can give."""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.application import (
    Batch,
    Receipt,
    Registering,
    Status,
    StoreUnavailable,
    Unusable,
)
from tracker.domain.ids import MAX_ID_SMS
from tracker.domain.quarantine import BODY, ITEM
from tracker.domain.registration import REGISTRATION_OUTCOMES, Registration
from tracker.writer_process import (
    decode_batch,
    decode_receipt,
    encode_batch,
    encode_failure,
    encode_receipt,
)

statuses = st.builds(
    Status,
    id_sms=st.integers(0, MAX_ID_SMS),
    state=st.text(max_size=20),
    time=st.text(max_size=30),
    raw=st.none() | st.text(max_size=60),
    channels=st.none() | st.dictionaries(st.sampled_from(["sms", "viber"]), st.text(max_size=9)),
    source=st.sampled_from([None, "poll"]),
    num_parts=st.none() | st.integers(0, 2**31),
    price=st.none() | st.floats(allow_nan=False),
)
unusable = st.builds(
    Unusable,
    kind=st.sampled_from([ITEM, BODY]),
    raw=st.text(max_size=60),
    reason=st.text(max_size=60),
    encoding=st.sampled_from(["utf-8", "base64"]),
)
registrations = st.builds(
    Registering,
    id_sms=st.integers(0, MAX_ID_SMS),
    registration=st.builds(
        Registration,
        sent_at=st.none() | st.datetimes(timezones=st.just(UTC)),
        sender=st.none() | st.text(max_size=64),
        campaign=st.none() | st.text(max_size=64),
        channel=st.none() | st.text(max_size=64),
        parts=st.none() | st.integers(1, 255),
        reason=st.none() | st.text(max_size=60),
    ),
    raw=st.none() | st.text(max_size=60),
    sent=st.none() | st.text(max_size=20),
)
batches = st.builds(
    Batch,
    statuses=st.lists(statuses, max_size=30).map(tuple),
    unusable=st.lists(unusable, max_size=3).map(tuple),
    received_at=st.datetimes(timezones=st.just(UTC)),
    registrations=st.lists(registrations, max_size=10).map(tuple),
)
counts = st.integers(0, 10_000)
receipts = st.builds(
    Receipt,
    stored=st.frozensets(st.integers(0, MAX_ID_SMS), max_size=30),
    outcomes=st.dictionaries(st.sampled_from(["applied", "stale", "conflict"]), counts),
    duplicates=counts,
    quarantined=counts,
    attempts=st.integers(1, 8),
    registrations=st.dictionaries(st.sampled_from(REGISTRATION_OUTCOMES), counts),
)


@given(batches)
def test_a_batch_arrives_at_the_writer_as_it_was_sent(batch):
    assert decode_batch(encode_batch(batch)) == batch


@given(receipts)
def test_a_receipt_arrives_at_the_server_as_the_writer_gave_it(receipt):
    assert decode_receipt(encode_receipt(receipt)) == receipt


def test_a_failure_arrives_as_the_store_being_unavailable_with_its_reason():
    with pytest.raises(StoreUnavailable, match="database is locked"):
        decode_receipt(encode_failure("database is locked"))


def test_a_frame_written_before_registrations_still_decodes_as_a_batch_without_them():
    import msgspec

    old = msgspec.msgpack.encode([[[5, "send", "2026-12-07 10:00:00", *[None] * 8]], [], None])
    batch = decode_batch(old)
    assert batch.registrations == () and batch.statuses[0].id_sms == 5
    old_receipt = msgspec.msgpack.encode([[5], {"applied": 1}, 0, 0, 1, None])
    assert decode_receipt(old_receipt) == Receipt(frozenset({5}), {"applied": 1})
