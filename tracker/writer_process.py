"""The group-commit writer in a process of its own, fed by the server processes over a socket.

One Python process serving HTTP and committing batches shares one interpreter lock between the
event loop and the writer: each waits for the other (measured, docs/benchmarks.md). `tracker
serve` therefore runs the writer (``GroupCommit``) in a child process: the server processes
send it each request's batch over a unix socket and answer the platform once it sends back the
receipt, which it sends only after the commit. A batch whose receipt never arrives (the writer
died, the connection broke) is answered 503; if it had been committed, the platform's resend is
an exact repeat, acknowledged and not recorded twice. So nothing is acknowledged before it is
committed, and nothing acknowledged is lost, as with the writer in the same process.

Frames both ways: a 4-byte length, a 4-byte request number, then msgpack (``msgspec``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from datetime import datetime
from pathlib import Path

import msgspec

from tracker.application import (
    Batch,
    OutcomeUnknown,
    Receipt,
    Registering,
    Status,
    StoreUnavailable,
    Tracker,
    Unusable,
)
from tracker.config import MiB
from tracker.domain.registration import Registration
from tracker.group_commit import GroupCommit

log = logging.getLogger("tracker.writer")

WRITER_SOCKET = "TRACKER_WRITER_SOCKET"  # set by `tracker serve` for its server processes
HEADER = struct.Struct("!II")  # payload length, request number


def frame_limit(max_body_bytes: int) -> int:
    """The largest batch frame a writer reads: a body's batch is at most about 7.5 times the
    body (every item a quarantined number with its reason, measured), so 16 times the largest
    body the webhook takes, 64 MiB at least. A larger frame is no batch of ours."""
    return max(64 * MiB, 16 * max_body_bytes)


class WireBatch(msgspec.Struct, array_like=True, gc=False):
    # id_sms, state, time, raw, sent, reason, raw_encoding, channels, source, num_parts, price:
    # a Status's fields in order
    statuses: list[
        tuple[
            int, str, str, str | None, str | None, str | None, str | None,
            dict[str, str] | None, str | None, int | None, float | None,
        ]
    ]  # fmt: skip
    unusable: list[tuple[str, str, str, str]]  # kind, raw, reason, encoding
    received_at: datetime | None
    # id_sms, (sent_at, sender, campaign, channel, parts, reason), raw, sent: a Registering's
    # (added 2026-12-07 at the end, with a default: a frame without them still decodes)
    registrations: list[
        tuple[
            int,
            tuple[datetime | None, str | None, str | None, str | None, int | None, str | None],
            str | None,
            str | None,
        ]
    ] = []


class WireReceipt(msgspec.Struct, array_like=True, gc=False):
    stored: list[int]
    outcomes: dict[str, int]
    duplicates: int
    quarantined: int
    attempts: int
    error: str | None = None  # set when the batch could not be stored: the store failed
    registrations: dict[str, int] = {}  # new registrations by outcome (added 2026-12-07)


_encode = msgspec.msgpack.Encoder().encode
_decode_batch = msgspec.msgpack.Decoder(WireBatch).decode
_decode_receipt = msgspec.msgpack.Decoder(WireReceipt).decode


def encode_batch(batch: Batch) -> bytes:
    return _encode(
        WireBatch(
            [
                (
                    s.id_sms,
                    s.state,
                    s.time,
                    s.raw,
                    s.sent,
                    s.reason,
                    s.raw_encoding,
                    s.channels,
                    s.source,
                    s.num_parts,
                    s.price,
                )
                for s in batch.statuses
            ],
            [(u.kind, u.raw, u.reason, u.encoding) for u in batch.unusable],
            batch.received_at,
            [
                (r.id_sms, msgspec.structs.astuple(r.registration), r.raw, r.sent)
                for r in batch.registrations
            ],
        )
    )


def decode_batch(data: bytes) -> Batch:
    wire = _decode_batch(data)
    return Batch(
        tuple(Status(*s) for s in wire.statuses),
        tuple(Unusable(*u) for u in wire.unusable),
        wire.received_at,
        tuple(
            Registering(number, Registration(*fields), raw, sent)
            for number, fields, raw, sent in wire.registrations
        ),
    )


def encode_receipt(receipt: Receipt) -> bytes:
    return _encode(
        WireReceipt(
            sorted(receipt.stored),
            dict(receipt.outcomes),
            receipt.duplicates,
            receipt.quarantined,
            receipt.attempts,
            None,
            dict(receipt.registrations),
        )
    )


def encode_failure(problem: str) -> bytes:
    return _encode(WireReceipt([], {}, 0, 0, 0, problem))


def decode_receipt(data: bytes) -> Receipt:
    """The receipt, or StoreUnavailable raised when the writer could not store the batch."""
    wire = _decode_receipt(data)
    if wire.error is not None:
        raise StoreUnavailable(wire.error)
    return Receipt(
        frozenset(wire.stored),
        wire.outcomes,
        wire.duplicates,
        wire.quarantined,
        wire.attempts,
        wire.registrations,
    )


def frame(number: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), number) + payload


def socket_path() -> str:
    """Where a server's writer listens: in a new directory of the temporary directory that only
    this user can enter (a unix socket's path is limited to about a hundred bytes, which a path
    beside the database may exceed); `tracker serve` removes it when it stops its writer."""
    return str(Path(tempfile.mkdtemp(prefix="tracker-")) / "writer.sock")


class WriterService:
    """The writer process's side: accepts server processes' connections on a unix socket and
    commits their batches with one ``GroupCommit``, answering each after its commit."""

    def __init__(self, tracker: Tracker, path: str, max_frame: int = 64 * MiB):
        self.path = path
        self.max_frame = max_frame
        self.writer = GroupCommit(tracker)
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def listen(self) -> None:
        """Bind the socket (only this user may connect) and accept connections in a thread."""
        Path(self.path).unlink(missing_ok=True)  # left by a writer that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        umask = os.umask(0o177)
        try:
            listener.bind(self.path)
        finally:
            os.umask(umask)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, name="writer-accept", daemon=True).start()

    def close(self) -> None:
        """Stop accepting and reading, commit and answer what is queued, then close the
        connections."""
        if self._listener is not None:
            self._listener.close()
            Path(self.path).unlink(missing_ok=True)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # no more batches; the receipts can still be sent
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RD)
        self.writer.close()
        for connection in connections:
            connection.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()  # type: ignore[union-attr]
            except OSError:  # closed
                return
            with self._lock:
                self._connections.add(connection)
            threading.Thread(
                target=self._serve, args=(connection,), name="writer-connection", daemon=True
            ).start()

    def _serve(self, connection: socket.socket) -> None:
        """Read a server process's batches; each receipt is sent from the writer thread as soon
        as the group holding the batch is committed."""
        served = _Served(connection, self._forget)
        reader = connection.makefile("rb")
        try:
            while len(header := reader.read(HEADER.size)) == HEADER.size:
                size, number = HEADER.unpack(header)
                if size > self.max_frame:
                    raise ValueError(f"a frame of {size} bytes")
                batch = decode_batch(reader.read(size))
                served.owe()
                self.writer.submit(batch).add_done_callback(
                    lambda done, number=number: served.answer(number, done)
                )
        except (OSError, ValueError, msgspec.DecodeError) as e:
            log.warning("stopped reading a server connection: %s", e)
        finally:
            reader.close()
            served.stop_reading()

    def _forget(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)


class _Served:
    """One server process's connection: closed once it is read to its end and every receipt
    owed on it is sent (a server that stopped sending still gets the receipts of what it sent)."""

    def __init__(self, connection: socket.socket, forget: Callable[[socket.socket], None]):
        self.connection = connection
        self.forget = forget
        self.lock = threading.Lock()
        self.owed = 0
        self.reading = True

    def owe(self) -> None:
        with self.lock:
            self.owed += 1

    def answer(self, number: int, done: Future[Receipt]) -> None:
        try:
            payload = encode_receipt(done.result())
        except Exception as e:  # StoreUnavailable, as GroupCommit reports every failure
            payload = encode_failure(str(e) or type(e).__name__)
        with self.lock:
            with suppress(OSError):  # the server went away; it answered 503 for the batch
                self.connection.sendall(frame(number, payload))
            self.owed -= 1
            self._close_when_done()

    def stop_reading(self) -> None:
        with self.lock:
            self.reading = False
            self._close_when_done()

    def _close_when_done(self) -> None:
        if not self.reading and self.owed == 0:
            self.connection.close()
            self.forget(self.connection)


class WriterClient:
    """A server process's side: sends batches to the writer process and awaits their receipts,
    on one connection made on first use and made again after it breaks."""

    def __init__(self, path: str, connect_timeout: float = 5.0, receipt_timeout: float = 30.0):
        self.path = path
        self.connect_timeout = connect_timeout
        # A writer that neither answers nor drops the connection (stuck on the store): the
        # request is answered 503 rather than held for ever; should the batch be committed
        # after all, the platform's resend is an exact repeat.
        self.receipt_timeout = receipt_timeout
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Receipt]] = {}
        self._numbers = 0
        self._connecting = asyncio.Lock()

    async def record(self, batch: Batch) -> Receipt:
        """The batch's receipt once it is committed; StoreUnavailable if it cannot be known."""
        payload = encode_batch(batch)
        writer = await self._connection()
        self._numbers = number = (self._numbers + 1) & 0xFFFFFFFF
        receipt = self._waiting[number] = asyncio.get_running_loop().create_future()
        try:
            writer.write(frame(number, payload))
            await writer.drain()
        except (OSError, RuntimeError) as e:  # uvloop: RuntimeError on a transport just closed
            if self._writer is writer:
                self._broken(e)
            elif not receipt.done():  # broken meanwhile, before this batch was waited for
                self._waiting.pop(number, None)
                receipt.set_exception(OutcomeUnknown(f"lost the writer process: {e}"))
        try:
            return await asyncio.wait_for(receipt, self.receipt_timeout)
        except TimeoutError:
            self._waiting.pop(number, None)
            raise OutcomeUnknown(
                f"the writer process gave no receipt within {self.receipt_timeout:g} s "
                "and may still commit the batch"
            ) from None

    async def connect(self) -> None:
        """Connect unless connected; StoreUnavailable when the writer does not accept."""
        await self._connection()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reading is not None:
            await asyncio.gather(self._reading, return_exceptions=True)

    async def _connection(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is None:
                try:
                    reader, self._writer = await asyncio.wait_for(
                        asyncio.open_unix_connection(self.path), self.connect_timeout
                    )
                except (OSError, TimeoutError) as e:
                    raise StoreUnavailable(f"the writer process is not answering: {e}") from e
                self._reading = asyncio.create_task(self._read(reader, self._writer))
            return self._writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size, number = HEADER.unpack(await reader.readexactly(HEADER.size))
                payload = await reader.readexactly(size)
                waiting = self._waiting.pop(number, None)
                if waiting is None or waiting.done():
                    continue
                try:
                    waiting.set_result(decode_receipt(payload))
                except StoreUnavailable as e:
                    waiting.set_exception(e)
        except (OSError, asyncio.IncompleteReadError, msgspec.DecodeError) as e:
            if self._writer is writer:
                self._broken(e)

    def _broken(self, cause: BaseException) -> None:
        """The connection is gone: every batch awaiting its receipt fails (503: the platform
        sends it again), and the next batch connects afresh."""
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(
                    OutcomeUnknown(f"lost the writer process before its receipt: {cause}")
                )
