"""Recording every POST to the webhook (and to /messages/sent): body as it came, answer, latency.

An ASGI middleware around the webhook's routes. It keeps the body's chunks as the app reads
them (at most TRACKER_MAX_BODY_BYTES: a 413's is "truncated"), the answer's status and bytes,
and what the handler saw (``Seen``, left in the request's scope); once the answer has been
sent, the record goes to the process's ``RequestLog`` queue, which never waits for its store.
A request refused before its body was read (403 by TRACKER_WEBHOOK_ALLOW, 404 for a wrong
token) has its body read before the refusal goes out, so that it can be replayed once the
setting is fixed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tracker.request_log import TRUNCATED, Record, RequestLog
from tracker.request_log.records import noted
from tracker.web.access import Access

WEBHOOK = "/webhooks/webcom"
REGISTRATIONS = "/messages/sent"  # recorded too, with this format:
REGISTRATION = "registration"
SEEN = "tracker.seen"  # the scope's key for what the handler saw
ANSWER_KEPT = 65536  # bytes of an answer kept at most (ours are short; an error page is not)
READ_WHEN_REFUSED = (401, 403, 404)  # statuses whose unread body is read before they go out
# Bytes of such a body kept at most: whoever may reach the webhook could otherwise fill the
# request log's TRACKER_REQUEST_LOG_MAX_BYTES with refused bodies, pushing out the platform's.
REFUSED_KEPT = 65536
# The largest size a record holds: HTTP allows a Content-Length of 64 bits, the databases a
# signed 64-bit integer (a larger one made every insert of its batch fail, again and again).
LARGEST_SIZE = 2**63 - 1


class Seen(msgspec.Struct, gc=False):
    """What the webhook's handler tells the request log: the body's format, the message
    numbers it carried, and how many ids its answer acknowledged."""

    format: str | None = None
    ids: list[int] = []
    acknowledged: int = 0


def seen(scope: Scope) -> Seen:
    """The request's ``Seen``, left in its scope by the middleware (a fresh one otherwise)."""
    found = scope.get(SEEN)  # type: ignore[call-overload]
    return found if isinstance(found, Seen) else Seen()


def _is_webhook(scope: Scope) -> bool:
    path: str = scope["path"]
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and (path in (WEBHOOK, REGISTRATIONS) or path.startswith(WEBHOOK + "/"))
    )


class RequestRecorder:
    """ASGI middleware: records each POST to the webhook in the request log."""

    def __init__(self, app: ASGIApp, requests: RequestLog, access: Access, max_body: int):
        self.app, self.requests, self.access, self.max_body = app, requests, access, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_webhook(scope):
            await self.app(scope, receive, send)
            return
        received_at = datetime.now(UTC)
        started = time.perf_counter()
        taken = _Taken(self.max_body)
        registering = scope["path"] == REGISTRATIONS  # its format, even when refused unread
        scope[SEEN] = Seen(REGISTRATION if registering else None)  # type: ignore[literal-required]

        async def receive_and_keep() -> Message:
            message = await receive()
            taken.take(message)
            return message

        async def send_and_keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                taken.status = message["status"]
                if taken.status in READ_WHEN_REFUSED and not taken.complete:
                    taken.limit = min(taken.limit, REFUSED_KEPT)
                    await taken.read_rest(receive)
            elif message["type"] == "http.response.body":
                taken.answer(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_and_keep, send_and_keep)
        finally:
            self.requests.put(self._record(scope, taken, received_at, started))

    def _record(self, scope: Scope, taken: _Taken, received_at: datetime, started: float) -> Record:
        latency = (time.perf_counter() - started) * 1000
        headers = dict(scope["headers"])
        size = taken.size
        note = TRUNCATED if taken.truncated else None
        announced = headers.get(b"content-length", b"")
        if announced.isdigit() and int(announced) > size and taken.status == 413:
            size, note = min(int(announced), LARGEST_SIZE), TRUNCATED  # refused on its length
        if taken.unfinished:
            note = noted(note, "body incomplete")
        what = seen(scope)
        return Record(
            received_at=received_at,
            answered_at=datetime.now(UTC),
            sender=(scope.get("client") or ("", 0))[0],
            token=self._token_name(scope["path"]),
            size=size,
            content_type=_text(headers.get(b"content-type")),
            format=what.format,
            status=taken.status,
            acknowledged=what.acknowledged,
            latency_ms=round(latency, 3),
            ids=what.ids,
            note=note,
            body=b"".join(taken.chunks) if taken.size else None,
            answer=b"".join(taken.answers) or None,
        )

    def _token_name(self, path: str) -> str | None:
        """The name of the token in the path (never the token: a wrong one is not kept either)."""
        if not path.startswith(WEBHOOK):
            return None
        token = path[len(WEBHOOK) + 1 :]
        return self.access.token_name(token) if token else None


class _Taken:
    """A request's body and answer as they pass."""

    def __init__(self, limit: int):
        self.limit = limit
        self.chunks: list[bytes] = []
        self.answers: list[bytes] = []
        self.size = self.kept = self.answered = 0
        self.truncated = self.complete = self.unfinished = False
        self.status = 500  # what the client gets if the app fails before answering

    def take(self, message: Message) -> None:
        if message["type"] != "http.request":  # http.disconnect: the client left
            self.unfinished = self.unfinished or not self.complete
            return
        body: bytes = message.get("body", b"")
        if body:
            self.size += len(body)
            room = self.limit - self.kept
            if len(body) > room:
                self.truncated = True
                body = body[: max(room, 0)]
            if body:
                self.chunks.append(body)
                self.kept += len(body)
        if not message.get("more_body", False):
            self.complete = True

    async def read_rest(self, receive: Receive) -> None:
        """Read what is left of a refused request's body (at most the limit)."""
        try:
            while not (self.complete or self.truncated or self.unfinished):
                self.take(await receive())
        except Exception:  # its deadline passed, the client left: what came is kept
            self.unfinished = True

    def answer(self, body: bytes) -> None:
        room = ANSWER_KEPT - self.answered
        if body and room > 0:
            self.answers.append(body[:room])
            self.answered += min(len(body), room)


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1")[:200] if value is not None else None
