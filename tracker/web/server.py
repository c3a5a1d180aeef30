"""uvicorn's HTTP protocol with deadlines for a request's head and body (``tracker serve``'s).

A client trickling its bytes (slowloris) cannot hold a connection for ever.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import msgspec
from litestar.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tracker.config import Settings

# Marks, in a request's ASGI scope, a body that did not arrive in time: the application is then
# told so by its next receive (a 408 it answers itself, so that its access log and metrics see it).
LATE_BODY = "tracker.late_body"

HEAD, BODY = "head", "body"

# In a request's ASGI scope: an asyncio.Event the application's endless answer (a change stream)
# ends on. Set when the server shuts down, which otherwise waits for that answer for ever.
ENDS_ON_SHUTDOWN = "tracker.ends_on_shutdown"
ENDLESS_GRACE = 2.0  # seconds an endless answer has to end once told to, before it is dropped

log = logging.getLogger("tracker")


@functools.cache
def deadlines() -> tuple[float, float]:
    """(header, body) timeouts in seconds, read once per server process as the app reads its."""
    settings = Settings.from_env()
    return settings.header_timeout, settings.body_timeout


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (its default when httptools is installed, as uvicorn[standard]
    has it), with two deadlines.

    - **Head**: the request line and headers must be complete within ``header_timeout``, counted
      from the connection's opening for its first request and from a request's first byte on a
      kept-alive connection (the idle time before it is uvicorn's ``timeout_keep_alive``). Past
      it the connection is closed, after a 408 if part of a head came and no answer is under way.
    - **Body**: the whole body must be in within ``body_timeout`` of its head. A whole-body
      deadline, not one for the pause between chunks: a byte a second never pauses long. Past it
      the request's next receive raises a 408 the application answers (nothing of the body is
      used, so nothing is stored or acknowledged) and the connection closes after the answer; if
      an answer has already begun, the connection is simply closed.

    Time the server itself holds the connection's reading paused (its own backlog: a pipelined
    request behind one being answered, a body not yet taken by the application) is not charged
    to the client: a deadline falling then starts again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout, self.body_timeout = deadlines()
        self.app = functools.partial(_late_body_is_408, self.app)
        self._waiting_for: str | None = None  # HEAD, BODY or None (nothing due from the client)
        self._head_begun = False
        self._deadline: asyncio.TimerHandle | None = None

    # The phases, as the parser sees them. Deadlines are armed once a call to data_received has
    # fed what came, so a request that arrives in one piece never arms one.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_for, self._head_begun = HEAD, False
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._waiting_for, self._head_begun = HEAD, True

    def on_headers_complete(self) -> None:
        self._disarm()
        self._waiting_for = BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._waiting_for = None
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for and not self._deadline and not self.transport.is_closing():
            self._arm()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the connection is the WebSocket protocol's from here
        self._waiting_for = None
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server stops: an endless answer under way is told to end (then the connection
        closes, as uvicorn closes every other once its answer is sent)."""
        super().shutdown()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            stop = cycle.scope.get(ENDS_ON_SHUTDOWN)  # type: ignore[call-overload]
            if stop is not None:
                stop.set()
                # A client that stopped reading leaves the answer waiting to write, where it
                # never sees the stop: its connection is dropped unless the answer ends soon.
                self.loop.call_later(ENDLESS_GRACE, self._drop_endless, cycle)

    def _drop_endless(self, cycle: Any) -> None:
        if self.cycle is cycle and not cycle.response_complete:
            self.transport.abort()  # close() would first wait for the unread bytes to go

    # The deadlines.

    def _arm(self) -> None:
        timeout = self.header_timeout if self._waiting_for == HEAD else self.body_timeout
        self._deadline = self.loop.call_later(timeout, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or not self._waiting_for:
            return
        if self.flow.read_paused:  # the server holds the bytes back, not the client
            self._arm()
            return
        if self._waiting_for == HEAD:
            self._head_late()
        else:
            self._body_late()

    def _head_late(self) -> None:
        answering = self.cycle is not None and not self.cycle.response_complete
        if self._head_begun:  # a connection opened and left idle is closed without a word
            detail = f"the request's head did not arrive within {self.header_timeout:g} s"
            log.info("closed a connection from %s: %s", (self.client or ("?",))[0], detail)
            if not answering:
                self.transport.write(self._408(detail))
        self.transport.close()

    def _body_late(self) -> None:
        cycle = self.cycle
        if cycle.response_started:
            self.transport.close()
            return
        cycle.scope[LATE_BODY] = self.body_timeout  # type: ignore[literal-required]
        cycle.keep_alive = False  # uvicorn closes the connection once the 408 is sent
        cycle.message_event.set()  # wakes a receive waiting for more of the body

    def _408(self, detail: str) -> bytes:
        body = msgspec.json.encode({"status_code": 408, "detail": detail})
        head = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        return b"".join(head) + body


class _RequestTimeout(HTTPException):
    # Its status on the class: Litestar's logging reads it there, and logged a bare
    # HTTPException(status_code=408) as an uncaught error with its traceback, for each slow client.
    status_code = 408


async def _late_body_is_408(app: Any, scope: Any, receive: Any, send: Any) -> None:
    """The application, told by its receive that the request's body came too late."""
    if scope["type"] != "http":
        await app(scope, receive, send)
        return

    async def receive_in_time() -> Any:
        message = await receive()
        if LATE_BODY in scope:
            detail = f"the request's body did not arrive within {scope[LATE_BODY]:g} s"
            raise _RequestTimeout(detail=detail)
        return message

    await app(scope, receive_in_time, send)
