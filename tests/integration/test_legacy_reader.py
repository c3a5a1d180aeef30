"""The legacy events reader on the stores commit 4066620 wrote (tests/fixtures/legacy_4066620)."""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import psycopg
import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder

from tests.fixtures.legacy_4066620 import fixture
from tests.support import server_url
from tracker.domain.quarantine import ITEM
from tracker.stores import legacy
from tracker.stores.legacy import (
    ItemQuarantined,
    LegacyFormatError,
    LegacyRow,
    QuarantinedReceivedAgain,
    ReportReceived,
    ReportReceivedAgain,
)

SHOWN = ("received_at", "id_sms", "state", "time", "instant", "outcome", "reason", "raw",
         "raw_encoding")  # fmt: skip
MANIFEST = fixture.manifest()
EXPECTED = fixture.expected()


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture.copy_store(tmp_path_factory.mktemp("legacy"))


@pytest.fixture(scope="module")
def sqlite_rows(sqlite_store: Path) -> list[LegacyRow]:
    with sqlite3.connect(sqlite_store) as connection:
        return [row for page in legacy.sqlite_pages(connection, size=97) for row in page]


@pytest.fixture(scope="module")
def sqlite_events(sqlite_rows: list[LegacyRow]) -> list[legacy.Decoded]:
    return [legacy.decode(row) for row in sqlite_rows]


def utc_z(moment: datetime | None) -> str | None:
    """A datetime as the API writes it (UTC, with Z)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_every_row_decodes_in_notification_order(sqlite_store, sqlite_events):
    with sqlite3.connect(sqlite_store) as connection:
        head = legacy.sqlite_head(connection)
        stored = connection.execute("SELECT count(*) FROM stored_events").fetchone()[0]
    assert [e.position for e in sqlite_events] == list(range(1, head + 1))
    assert len(sqlite_events) == stored == sum(MANIFEST["sqlite"]["events_by_topic"].values())


def test_counts_per_kind_are_what_generate_wrote(sqlite_events):
    kinds = Counter(type(e).__name__ for e in sqlite_events)
    topics = MANIFEST["sqlite"]["events_by_topic"]
    firsts = sum(1 for e in sqlite_events if isinstance(e, ReportReceived) and e.first)
    assert firsts == topics[legacy.FIRST_REPORTED] == MANIFEST["messages_sent"]
    assert kinds["ReportReceived"] - firsts == topics[legacy.STATUS_REPORTED]
    assert kinds["ItemQuarantined"] == topics[legacy.QUARANTINED]
    assert kinds["QuarantinedReceivedAgain"] == topics[legacy.RECEIVED_AGAIN]
    assert "ReportReceivedAgain" not in kinds  # 4066620 recorded nothing for an exact repeat
    assert MANIFEST["sqlite"]["exact_repeats_not_recorded"] > 0
    outcomes = Counter(e.outcome for e in sqlite_events if isinstance(e, ReportReceived))
    assert outcomes == MANIFEST["sqlite"]["new_reports_by_outcome"]
    receipts = kinds["ItemQuarantined"] + kinds["QuarantinedReceivedAgain"]
    assert receipts == MANIFEST["sqlite"]["quarantine_receipts"]


def test_the_decoded_reports_are_the_histories_the_current_tracker_shows(sqlite_events):
    reports: dict[int, list[ReportReceived]] = defaultdict(list)
    for e in sqlite_events:
        if isinstance(e, ReportReceived):
            reports[e.id_sms].append(e)
    assert sorted(reports) == sorted(int(n) for n in EXPECTED["histories"])
    for number, history in EXPECTED["histories"].items():
        found = reports[int(number)]
        assert [e.originator_version for e in found] == list(range(1, len(found) + 1))
        assert len({e.originator_id for e in found}) == 1
        assert [
            {
                "received_at": utc_z(e.received_at),
                "id_sms": e.id_sms if e.id_sent is None else e.id_sent,
                "state": e.state,
                "time": e.time,
                "instant": utc_z(e.instant),
                "outcome": e.outcome,
                "reason": e.reason,
                "raw": e.raw,
                "raw_encoding": None if e.raw is None else e.raw_encoding or "utf-8",
            }
            for e in found
        ] == [{k: r[k] for k in SHOWN} for r in history["reports"]], number


def test_the_decoded_quarantine_is_the_one_the_current_tracker_shows(sqlite_events):
    items: dict[str, list] = defaultdict(list)
    for e in sqlite_events:
        if isinstance(e, ItemQuarantined | QuarantinedReceivedAgain):
            items[e.originator_id.hex].append(e)
    assert sorted(items) == sorted(i["id"] for i in EXPECTED["quarantine"])
    for item in EXPECTED["quarantine"]:
        first, *again = items[item["id"]]
        assert isinstance(first, ItemQuarantined)
        assert all(isinstance(e, QuarantinedReceivedAgain) for e in again)
        assert (first.kind, first.raw, first.encoding) == (
            item["kind"],
            item["raw"],
            item["encoding"],
        )
        receipts = [[e.received_at.isoformat(), e.reason] for e in [first, *again]]
        assert receipts == item["each_receipt"]
        assert len(receipts) == item["receipts"]


def library_decoding(state: bytes | str) -> dict:
    """A row's state as the library's JSON transcoder (with its datetime transcoding) reads it:
    the oracle, independent of the tracker's classes, which no longer have the old events."""
    transcoder = JSONTranscoder()
    transcoder.register(DatetimeAsISO())
    return transcoder.decode(state.encode() if isinstance(state, str) else bytes(state))


def test_every_field_equals_the_librarys_own_decoding(sqlite_rows, sqlite_events):
    """The library's transcoder as the oracle, row for row: every field it finds, equal;
    every field of ours it does not find (written after 4066620), None."""
    for row, event in zip(sqlite_rows, sqlite_events, strict=True):
        library = library_decoding(row.state)
        assert uuid.UUID(row.originator_id) == event.originator_id
        assert row.originator_version == event.originator_version
        assert library.pop("timestamp") == event.timestamp
        assert library.pop("originator_topic", None) in (None, legacy.MESSAGE,
                                                         legacy.QUARANTINED_INPUT)  # fmt: skip
        for name in event.__struct_fields__:
            if name not in ("position", "first", "originator_id", "originator_version",
                            "timestamp"):  # fmt: skip
                assert library.pop(name, None) == getattr(event, name), (row.position, name)
        assert library == {}, row.position  # nothing of the row left unread
        for name in ("timestamp", "received_at", "instant"):
            value = getattr(event, name, None)
            assert value is None or value.tzinfo is not None  # aware, as stored


def test_a_migration_resumes_from_any_position(sqlite_store, sqlite_events):
    with sqlite3.connect(sqlite_store) as connection:
        for after in (0, 1, 500, len(sqlite_events) - 1, len(sqlite_events)):
            tail = list(legacy.decoded(legacy.sqlite_pages(connection, after=after, size=250)))
            assert tail == sqlite_events[after:]


@pytest.mark.postgres
def test_the_postgresql_copy_decodes_to_the_same_events(postgres_server, sqlite_events):
    schema = f"i19_legacy_reader_{uuid.uuid4().hex[:8]}"
    url = fixture.load_postgres(server_url(postgres_server), schema)
    try:
        with psycopg.connect(server_url(url)) as connection:
            head = legacy.postgres_head(connection, schema)
            rows = [r for p in legacy.postgres_pages(connection, schema, size=97) for r in p]
            events = [legacy.decode(r) for r in rows]
            assert all(isinstance(r.originator_id, uuid.UUID) for r in rows)
            assert head == len(events)
            assert events == sqlite_events
            resumed = legacy.decoded(legacy.postgres_pages(connection, schema, after=600))
            assert list(resumed) == sqlite_events[600:]
    finally:
        fixture.drop_postgres(server_url(postgres_server), schema)


def library_row(position: int, key: uuid.UUID, version: int, topic: str, **state) -> LegacyRow:
    """A row as the library's JSON transcoder wrote it for the tracker after 4066620 (the
    tracker no longer writes this format: its events are built here, field for field)."""
    transcoder = JSONTranscoder()
    transcoder.register(DatetimeAsISO())
    return LegacyRow(position, key.hex, version, topic, transcoder.encode(state))


def test_the_format_written_after_4066620_decodes_too():
    """Exact repeats (ReportedAgain), ids sent as strings, reports rejected at receipt with a
    reason, raw items that were not UTF-8: what the tracker wrote after 4066620, read the
    same way."""
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    seven, item = uuid.uuid4(), uuid.uuid4()
    report = {"id_sms": 7, "instant": None, "received_at": at, "raw": None}
    rows = [
        library_row(1, seven, 1, legacy.FIRST_REPORTED, timestamp=at,
                    originator_topic=legacy.MESSAGE, **report, state="send",
                    time="2011-01-01 12:00:00", outcome="applied", id_sent="007"),
        library_row(2, seven, 2, legacy.STATUS_REPORTED, timestamp=at, **report,
                    state="deliver", time='"\\ud800"', outcome="rejected",
                    reason="time: a lone surrogate"),
        library_row(3, seven, 3, legacy.STATUS_REPORTED, timestamp=at, **{**report,
                    "raw": "eyJ9"}, state="read\ufffd", time="", outcome="rejected",
                    id_sent="07", raw_encoding="base64", reason="state: not UTF-8"),
        library_row(4, item, 1, legacy.QUARANTINED, timestamp=at,
                    originator_topic=legacy.QUARANTINED_INPUT, kind=ITEM, raw="[1]",
                    encoding="utf-8", reason="item is an array", received_at=at),
        library_row(5, seven, 4, legacy.REPORTED_AGAIN, timestamp=at, id_sms=7, state="send",
                    time="2011-01-01 12:00:00", reason=None, received_at=at, times=2),
        library_row(6, item, 2, legacy.RECEIVED_AGAIN, timestamp=at,
                    reason="item is an array", received_at=at),
    ]  # fmt: skip
    events = [legacy.decode(row) for row in rows]
    assert [type(e) for e in events] == [
        ReportReceived,
        ReportReceived,
        ReportReceived,
        ItemQuarantined,
        ReportReceivedAgain,
        QuarantinedReceivedAgain,
    ]
    send, deliver, read, _, again, _ = events
    assert (send.id_sent, send.first, deliver.first) == ("007", True, False)
    assert (deliver.outcome, deliver.id_sent, deliver.reason) == (
        "rejected", None, "time: a lone surrogate"
    )  # fmt: skip
    assert (read.id_sent, read.raw, read.raw_encoding) == ("07", "eyJ9", "base64")
    assert (again.state, again.times, again.received_at) == ("send", 2, at)
    for row, event in zip(rows, events, strict=True):
        library = library_decoding(row.state)
        for name in event.__struct_fields__:
            if name in library:
                assert library[name] == getattr(event, name), (row.position, name)


STAMP = b'{"_type_":"datetime_iso","_data_":"2026-12-01T08:00:00+00:00"}'
# A report event as the old tracker stored it, its number and outcome to fill in: a message's
# number is one the tracker read (0 to 2^63-1), an outcome one it decided.
REPORT = (
    b'{"timestamp":' + STAMP + b',"id_sms":%s,"state":"send","time":"","instant":null,'
    b'"received_at":' + STAMP + b',"outcome":"%s","raw":null}'
)


@pytest.mark.parametrize(
    ("topic", "state", "says"),
    [
        ("tracker.domain.message:Message.Renamed", b"{}", "unknown topic"),
        (legacy.STATUS_REPORTED, b'{"timestamp": 1}', "Expected `object`"),
        (legacy.RECEIVED_AGAIN, b"not json", "malformed"),
        (
            legacy.RECEIVED_AGAIN,
            b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-01T08:00:00+00:00"},'
            b'"reason":"r","received_at":{"_type_":"datetime_iso",'
            b'"_data_":"2026-12-01T08:00:00+00:00"},"extra":1}',
            "unknown field `extra`",
        ),
        (
            legacy.RECEIVED_AGAIN,
            b'{"timestamp":{"_type_":"uuid_hex","_data_":"00"},"reason":"r",'
            b'"received_at":{"_type_":"datetime_iso","_data_":"2026-12-01T08:00:00+00:00"}}',
            "Invalid enum value 'uuid_hex'",
        ),
        (legacy.STATUS_REPORTED, REPORT % (b"1" + b"0" * 40, b"applied"), "<= 9223372036854775807"),
        (legacy.STATUS_REPORTED, REPORT % (b"-1", b"applied"), ">= 0"),
        (legacy.STATUS_REPORTED, REPORT % (b"5", b"bogus"), "Invalid enum value 'bogus'"),
    ],
)
def test_a_row_not_in_the_format_is_an_error_naming_it(topic, state, says):
    row = LegacyRow(41, uuid.uuid4().hex, 2, topic, state)
    with pytest.raises(LegacyFormatError, match=f"event 41 .*{says}"):
        legacy.decode(row)


def test_a_first_report_must_open_its_message(sqlite_rows):
    first = next(r for r in sqlite_rows if r.topic == legacy.FIRST_REPORTED)
    with pytest.raises(LegacyFormatError, match="version 1"):
        legacy.decode(first._replace(originator_version=2))
    with pytest.raises(LegacyFormatError, match="originator_topic"):
        legacy.decode(first._replace(topic=legacy.STATUS_REPORTED))
    assert msgspec.structs.asdict(legacy.decode(first))["first"] is True
