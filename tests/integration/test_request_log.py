"""The request log's store on a real SQLite file and PostgreSQL: records, pages, retention, the
size cap, several writers at once, and the writer thread's queue."""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracker.bootstrap import open_request_store
from tracker.bootstrap.requests import open_request_log
from tracker.config import Settings
from tracker.request_log import (
    BODY_DROPPED_QUEUE,
    BODY_DROPPED_RETENTION,
    Record,
    RequestFilter,
    RequestLog,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def record(n: int, *, at: datetime = NOW, status: int = 200, ids=(), body: bytes = b"x") -> Record:
    return Record(
        received_at=at,
        answered_at=at + timedelta(milliseconds=3),
        sender="10.0.0.1",
        token="platform",
        size=len(body),
        content_type="text/json",
        format="json",
        status=status,
        acknowledged=len(ids),
        latency_ms=3.0,
        ids=list(ids),
        body=body,
        answer=b"[]",
        note=f"n{n}",
    )


@pytest.fixture
def store(database_url):
    requests = open_request_store(Settings(database_url=database_url, lock_timeout=2))
    try:
        yield requests
    finally:
        requests.close()


def test_records_come_back_whole_with_increasing_ids_and_their_message_numbers(store):
    body = b"\xff\xfe binary \x00 and \xed\xa0\x80 a lone surrogate's bytes"
    ids = store.insert([record(1, ids=[7, 5, 7]), record(2, body=body, status=413)])
    assert ids[1] > ids[0] > 0
    first, second = store.get(ids[0]), store.get(ids[1])
    assert first.ids == [5, 7] and first.body == b"x" and first.answer == b"[]"
    assert first.received_at == NOW and first.token == "platform" and first.note == "n1"
    assert second.body == body and second.status == 413
    assert store.get(ids[1] + 100) is None


def test_a_listing_is_newest_first_filtered_and_paged_without_repeat_or_gap(store):
    for n in range(25):
        store.insert([record(n, at=NOW + timedelta(seconds=n), status=200 if n % 3 else 400,
                             ids=[n % 4])])  # fmt: skip
    seen, before = [], None
    while True:
        page = store.page(RequestFilter(), before, 7)
        seen += [r.id for r in page]
        if len(page) < 7:
            break
        before = page[-1].id
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 25
    assert all(r.body is None for r in store.page(RequestFilter(), None, 5))  # no bodies listed
    refused = store.page(RequestFilter(status=400), None, 100)
    assert {r.note for r in refused} == {f"n{n}" for n in range(25) if n % 3 == 0}
    carrying = store.page(RequestFilter(id_sms=2), None, 100)
    assert {r.note for r in carrying} == {f"n{n}" for n in range(25) if n % 4 == 2}
    assert all(r.ids == [2] for r in carrying)
    window = RequestFilter(
        received_from=NOW + timedelta(seconds=5), received_to=NOW + timedelta(seconds=8)
    )
    assert [r.note for r in store.page(window, None, 100)] == ["n7", "n6", "n5"]
    assert [i for i, _, _ in store.carrying(3)] == [
        r.id for r in store.page(RequestFilter(id_sms=3), None, 100)
    ][::-1]


def test_retention_drops_old_bodies_and_keeps_their_records(store):
    old = store.insert([record(1, at=NOW - timedelta(days=40), body=b"old" * 10)])[0]
    new = store.insert([record(2, at=NOW, body=b"new" * 10)])[0]
    assert store.prune(NOW - timedelta(days=30), 10**9) == 1
    kept_old, kept_new = store.get(old), store.get(new)
    assert kept_old.body is None and kept_old.answer is None and kept_old.size == 30
    assert kept_old.note == f"n1; {BODY_DROPPED_RETENTION}"
    assert kept_new.body == b"new" * 10
    assert store.prune(NOW - timedelta(days=30), 10**9) == 0  # nothing more to drop


def test_the_size_cap_drops_the_oldest_bodies_first(store):
    ids = store.insert(
        [record(n, at=NOW + timedelta(seconds=n), body=b"b" * 98) for n in range(10)]
    )
    # each keeps 98 + 2 bytes (body and answer): 1000 in all; a cap of 450 keeps the newest 4
    assert store.prune(NOW - timedelta(days=30), 450) == 6
    kept = [store.get(i).body is not None for i in ids]
    assert kept == [False] * 6 + [True] * 4


def _write_many(database_url: str, n: int, k: int) -> None:
    store = open_request_store(Settings(database_url=database_url, lock_timeout=10))
    for i in range(n):
        store.insert([record(k * 1000 + i, ids=[k])])
    store.close()


def test_several_processes_write_one_request_log_at_once(database_url):
    open_request_store(Settings(database_url=database_url)).close()  # created once, first
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(database_url, 40, k)) for k in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    store = open_request_store(Settings(database_url=database_url))
    try:
        everything = store.page(RequestFilter(), None, 1000)
        assert len(everything) == 120 and len({r.id for r in everything}) == 120
        for k in range(3):
            assert len(store.page(RequestFilter(id_sms=k), None, 1000)) == 40
    finally:
        store.close()


def test_the_writer_thread_stores_what_is_queued_in_batches_and_on_close(database_url):
    settings = Settings(database_url=database_url)
    log = RequestLog(open_request_store(settings), keep=timedelta(days=30), max_bytes=10**9)
    log.start()
    for n in range(1200):
        log.put(record(n, ids=[n]))
    assert log.flush(30)
    log.put(record(9999, ids=[9999]))
    log.close()  # drains first
    store = open_request_store(settings)
    try:
        assert len(store.page(RequestFilter(), None, 1000)) == 1000
        assert store.page(RequestFilter(id_sms=9999), None, 10)[0].note == "n9999"
    finally:
        store.close()


def test_a_full_queue_keeps_records_without_their_bodies_and_counts_them(sqlite_url):
    dropped: list[str] = []
    store = open_request_store(Settings(database_url=sqlite_url))
    log = RequestLog(store, keep=timedelta(days=30), max_bytes=10**9, on_dropped=dropped.append,
                     queued_body_bytes=100, queued_records=5)  # fmt: skip
    for n in range(7):  # not started: nothing drains
        log.put(record(n, body=b"b" * 40))
    assert dropped == ["body"] * 3 + ["record"] * 2
    log.start()
    assert log.flush(10)
    log.close()
    store = open_request_store(Settings(database_url=sqlite_url))
    try:
        kept = store.page(RequestFilter(), None, 100)[::-1]
        assert [r.note for r in kept] == ["n0", "n1"] + [
            f"n{n}; {BODY_DROPPED_QUEUE}" for n in (2, 3, 4)
        ]
    finally:
        store.close()


def test_a_locked_sqlite_request_log_holds_up_no_one_and_gets_the_records_once_released(
    tmp_path: Path, caplog
):
    caplog.set_level(logging.INFO, logger="tracker")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'tracker.db'}", lock_timeout=1)
    log = RequestLog(open_request_store(settings), keep=timedelta(days=30), max_bytes=10**9)
    log.start()
    holder = sqlite3.connect(tmp_path / "tracker.requests.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    for n in range(50):
        log.put(record(n))  # returns at once: the writer thread is the one waiting
    assert log.queued() == 50
    assert not log.flush(2.5)  # still queued: the lock is held
    holder.execute("ROLLBACK")
    holder.close()
    assert log.flush(15)
    log.close()
    said = [r.getMessage() for r in caplog.records if r.name == "tracker"]
    assert len([m for m in said if "not stored yet" in m]) == 1  # once, not at each retry
    assert any("stored again" in m for m in said)
    store = open_request_store(settings)
    try:
        assert len(store.page(RequestFilter(), None, 100)) == 50
    finally:
        store.close()


def test_a_served_request_log_prunes_by_its_settings(database_url):
    settings = Settings(database_url=database_url, request_log_keep="1h", request_log_max_bytes=0)
    log = open_request_log(settings)
    assert log is not None and log.keep == timedelta(hours=1)
    try:
        log.store.insert([record(1, at=datetime.now(UTC))])  # the writer thread not started
        assert log.prune() == 1  # the size cap of 0 drops its body (a failed prune says 0)
    finally:
        log.close()
