"""A change stream's events: in position order from where it resumes, keep-alive comments when
quiet, an end when told to stop, and its place among the process's streams given back."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from tracker.views.projection import Change
from tracker.web.changes_api import Feed, _events, _Slot

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def change(position: int) -> Change:
    return Change(position, position % 3, None, "send", False, "", None, T0, None)


class FakeViews:
    def __init__(self) -> None:
        self.rows: list[Change] = []
        self.reads = 0

    def changes_head(self) -> int:
        return self.rows[-1].position if self.rows else 0

    def changes_after(self, position: int, limit: int, id_sms: int | None = None) -> list:
        self.reads += 1
        found = [c for c in self.rows if c.position > position]
        return [c for c in found if id_sms is None or c.id_sms == id_sms][:limit]


class FakeBackend:
    def __init__(self) -> None:
        self.views = FakeViews()

    async def read(self, fn, *args):
        return fn(*args)


def run_alone(main) -> None:
    """``asyncio.run(main())`` in a thread of its own (an earlier test may leave a loop marked
    running in this one)."""
    failed: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:
            failed.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    if failed:
        raise failed[0]


async def collect(stream, until) -> list:
    got = []
    async for message in stream:
        got.append(message)
        if until(got):
            break
    return got


def test_events_from_where_it_resumes_then_keep_alives_then_an_end_when_told():
    async def run() -> None:
        backend, feed, stop = FakeBackend(), Feed(2, poll=0.01, keep_alive=0.05), asyncio.Event()
        backend.views.rows = [change(n) for n in (3, 5, 8, 9)]
        assert feed.take()
        slot = _Slot(feed)
        stream = _events(backend, feed, slot, stop, 5, None)
        first = await collect(stream, lambda got: len(got) == 2)
        assert [(m.id, m.event) for m in first] == [(8, "change"), (9, "change")]
        assert first[0].data == (
            '{"position":8,"id_sms":2,"previous":null,"state":"send","final":false,"time":"",'
            '"instant":null,"received_at":"2026-12-07T00:00:00Z","source":null}'
        )
        quiet = await collect(stream, lambda got: True)
        assert (quiet[0].comment, quiet[0].data) == ("keep-alive", None)
        backend.views.rows.append(change(12))
        later = await collect(stream, lambda got: got[-1].comment is None)
        assert later[-1].id == 12
        reads = backend.views.reads
        await asyncio.sleep(0.1)  # nothing new: the head says so, and no page is read
        assert backend.views.reads == reads
        stop.set()
        assert [m async for m in stream if m.comment is None] == []
        assert feed.open == 0  # its place given back
        slot.release()
        assert feed.open == 0  # once only

    run_alone(run)


def test_a_message_filter_reads_only_when_the_head_moves():
    async def run() -> None:
        backend, feed, stop = FakeBackend(), Feed(1, poll=0.01, keep_alive=10), asyncio.Event()
        backend.views.rows = [change(n) for n in range(1, 8)]
        feed.take()
        stream = _events(backend, feed, _Slot(feed), stop, 0, 1)
        got = await collect(stream, lambda got: len(got) == 3)
        assert [m.id for m in got] == [1, 4, 7]
        reads = backend.views.reads
        task = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.1)
        assert backend.views.reads == reads  # the rest of the view was read already
        backend.views.rows.append(change(10))
        assert (await task).id == 10
        stop.set()
        await stream.aclose()

    run_alone(run)


def test_a_feed_takes_at_most_its_limit():
    feed = Feed(2)
    assert [feed.take(), feed.take(), feed.take()] == [True, True, False]
    _Slot(feed).release()
    assert feed.take()


@pytest.mark.parametrize("text", ["12", " 12 ", "0"])
def test_last_event_id_is_a_position(text):
    from tracker.web.changes_api import _last_event_id

    assert _last_event_id(text) == int(text)
