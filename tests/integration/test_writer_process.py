"""The writer in a process of its own: server processes' batches committed together, each
answered only after its commit, and every way of losing the writer answered as unavailable."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import hold_commits
from tracker.application import Batch, OutcomeUnknown, Status, StoreUnavailable
from tracker.writer_process import WriterClient, WriterService


@pytest.fixture
def path():
    """A socket path short enough for AF_UNIX (pytest's tmp_path may not be)."""
    folder = tempfile.mkdtemp(prefix="tw-")
    yield os.path.join(folder, "writer.sock")
    Path(folder, "writer.sock").unlink(missing_ok=True)
    os.rmdir(folder)


@pytest.fixture
def service(tracker, path):
    service = WriterService(tracker, path)
    service.listen()
    yield service
    service.close()


def run(coroutine):
    """``asyncio.run`` in a thread of its own: the browser tests' Playwright keeps an event loop
    running in the main thread for the rest of the session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def batch(*statuses: Status) -> Batch:
    return Batch(tuple(statuses))


def test_batches_from_several_server_processes_are_committed_and_each_gets_its_receipt(
    tracker, service, path
):
    release = hold_commits(tracker)  # the first group stays open while the rest queue up

    async def one_server(first: int):
        client = WriterClient(path)
        try:
            return await asyncio.gather(
                *(
                    client.record(batch(Status(n, "send", ""), Status(7, "read", f"{n}")))
                    for n in range(first, first + 10)
                )
            )
        finally:
            await client.close()

    async def three_servers():
        threading.Timer(0.3, release.set).start()
        return await asyncio.gather(one_server(100), one_server(200), one_server(300))

    receipts = [r for server in run(three_servers()) for r in server]
    expected = [frozenset({n, 7}) for first in (100, 200, 300) for n in range(first, first + 10)]
    assert [r.stored for r in receipts] == expected
    assert service.writer.groups < 30  # batches of different servers shared transactions
    assert len(tracker.history(7)) == 30
    assert [e.event.state for e in tracker.history(205)] == ["send"]


def test_an_exact_repeat_is_acknowledged_and_not_recorded_again(tracker, service, path):
    async def twice():
        client = WriterClient(path)
        try:
            sent = batch(Status(42, "deliver", "2011-01-01 12:00:00"))
            return await client.record(sent), await client.record(sent)
        finally:
            await client.close()

    first, again = run(twice())
    assert first.stored == again.stored == frozenset({42})
    assert (first.duplicates, again.duplicates) == (0, 1)
    assert len(tracker.history(42)) == 1


def test_the_store_failing_in_the_writer_reaches_the_server_as_unavailable(tracker, service, path):
    def fail(batches):
        raise StoreUnavailable("disk I/O error")

    tracker.record_batches = fail

    async def send():
        client = WriterClient(path)
        try:
            await client.record(batch(Status(1, "send", "")))
        finally:
            await client.close()

    with pytest.raises(StoreUnavailable, match="disk I/O error"):
        run(send())


def test_no_writer_listening_is_unavailable_at_once(path):
    async def send():
        await WriterClient(path, connect_timeout=1).record(batch(Status(1, "send", "")))

    with pytest.raises(StoreUnavailable, match="writer process is not answering"):
        run(send())


def test_a_writer_lost_before_its_receipt_fails_the_batch_and_the_next_one_reconnects(
    tracker, path
):
    """A writer that takes the batch and dies without answering: the batch is unavailable (the
    platform sends it again); once a writer listens again, the next batch goes through."""
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(path)
    silent.listen(1)

    def take_and_die():
        connection, _ = silent.accept()
        connection.recv(1 << 16)
        connection.close()
        silent.close()
        os.unlink(path)

    dying = threading.Thread(target=take_and_die)
    dying.start()

    async def before_and_after():
        client = WriterClient(path)
        try:
            with pytest.raises(StoreUnavailable, match="lost the writer process"):
                await client.record(batch(Status(1, "send", "")))
            await asyncio.to_thread(dying.join)
            service = WriterService(tracker, path)
            service.listen()
            try:
                return await client.record(batch(Status(2, "send", "")))
            finally:
                service.close()
        finally:
            await client.close()

    assert run(before_and_after()).stored == frozenset({2})
    assert tracker.history(1) == []  # never committed, never acknowledged


def test_a_writer_that_never_answers_costs_a_503_not_a_request_held_for_ever(path):
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(path)
    mute.listen(1)

    async def send():
        client = WriterClient(path, receipt_timeout=0.5)
        try:
            await client.record(batch(Status(1, "send", "")))
        finally:
            await client.close()

    try:
        with pytest.raises(OutcomeUnknown, match=r"no receipt within 0\.5 s and may still commit"):
            run(send())
    finally:
        mute.close()


def test_a_writer_stopping_commits_and_answers_the_batches_it_was_sent(tracker, service, path):
    release = hold_commits(tracker)

    async def send_then_stop():
        client = WriterClient(path)
        try:
            pending = [
                asyncio.ensure_future(client.record(batch(Status(n, "send", ""))))
                for n in (1, 2, 3)
            ]
            while service.writer.groups == 0:  # the first batch's group is being committed
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # the other two wait in the queue
            stopping = asyncio.get_running_loop().run_in_executor(None, service.close)
            release.set()
            await stopping
            return await asyncio.gather(*pending)
        finally:
            await client.close()

    receipts = run(send_then_stop())
    assert [r.stored for r in receipts] == [frozenset({1}), frozenset({2}), frozenset({3})]
    assert all(len(tracker.history(n)) == 1 for n in (1, 2, 3))


def test_a_connection_closed_under_a_send_is_a_503_not_a_500(tracker, service, path):
    """uvloop raises RuntimeError (not OSError) when writing to a transport that was closed
    a moment before, by the connection breaking: once a 500, now an outcome not known."""

    async def send():
        client = WriterClient(path)
        try:
            await client.connect()
            writer = client._writer

            def closed(data):
                raise RuntimeError("unable to perform operation on <UnixTransport closed=True>")

            writer.write = closed
            await client.record(batch(Status(1, "send", "")))
        finally:
            await client.close()

    with pytest.raises(OutcomeUnknown, match="lost the writer process"):
        run(send())
