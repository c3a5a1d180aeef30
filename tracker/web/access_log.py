"""One JSON line per request: method, path (never the query string), status, duration.

Litestar's logging middleware writes a request line and a response line; operators asked for one
line per request, so this replaces uvicorn's access log. Headers, bodies and query strings are
never logged, so neither are secrets carried in them, and the webhook's token in its path is
replaced by ``{token}``.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tracker.access")


def configure() -> None:
    """Access lines go to stderr as bare JSON, one per line (no logging prefix around them)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _without_token(path: str) -> str:
    """The webhook's token is a secret: it is never written to a log."""
    if path.startswith(WEBHOOK_WITH_TOKEN):
        return WEBHOOK_WITH_TOKEN + "{token}"
    return path


WEBHOOK_WITH_TOKEN = "/webhooks/webcom/"


class AccessLog:
    """ASGI middleware: times each HTTP request and logs it once it has been answered."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info(
                msgspec.json.encode(
                    {
                        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "method": scope["method"],
                        "path": _without_token(scope["path"]),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    }
                ).decode()
            )
