"""What crosses the socket between a server process and the writer process comes out as it went
in: every batch the webhook can make, every receipt the writer can give."""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.application import Batch, Receipt, Status, StoreUnavailable, Unusable
from tracker.domain.ids import MAX_ID_SMS
from tracker.domain.quarantine import BODY, ITEM
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
batches = st.builds(
    Batch,
    statuses=st.lists(statuses, max_size=30).map(tuple),
    unusable=st.lists(unusable, max_size=3).map(tuple),
    received_at=st.datetimes(timezones=st.just(UTC)),
)
counts = st.integers(0, 10_000)
receipts = st.builds(
    Receipt,
    stored=st.frozensets(st.integers(0, MAX_ID_SMS), max_size=30),
    outcomes=st.dictionaries(st.sampled_from(["applied", "stale", "conflict"]), counts),
    duplicates=counts,
    quarantined=counts,
    attempts=st.integers(1, 8),
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
