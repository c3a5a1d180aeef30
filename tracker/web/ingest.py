"""The webhook: a body read item by item, its batch committed, the stored ids acknowledged."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from tracker.application import Batch, Receipt
from tracker.web import metrics, xml_intake
from tracker.web.access import webhook_guard
from tracker.web.backend import Backend
from tracker.web.intake import BodyError, Intake, read_body, read_items, read_plain
from tracker.web.openapi import WebhookOperation, problems
from tracker.web.request_log import Seen, seen
from tracker.web.xml_plain import read_plain as read_plain_xml

log = logging.getLogger("tracker")

WEBHOOK_SUMMARY = "Receive a batch of delivery statuses"


@post(
    "/webhooks/webcom",
    status_code=200,
    summary=WEBHOOK_SUMMARY,
    guards=[webhook_guard],
    operation_class=WebhookOperation,
    responses=problems(400, 403, 408, 413, 503),
)
async def webhook(request: Request, backend: NamedDependency[Backend]) -> Response[bytes]:
    """Store every status of the batch, then answer with the ids that are durably stored.

    The body is read whatever its content type: a JSON array of statuses, or (when it begins
    with ``<``) the platform's XML ``<response>`` of ``<state>`` elements, answered in XML.
    Items whose ``id_sms`` names no message are quarantined; a body that is neither gets 400
    and acknowledges nothing.
    """
    return await _receive(request, backend)


@post(
    "/webhooks/webcom/{token:str}",
    status_code=200,
    summary=WEBHOOK_SUMMARY,
    guards=[webhook_guard],
    operation_class=WebhookOperation,
    responses=problems(400, 403, 404, 408, 413, 503),
)
async def webhook_with_token(
    token: FromPath[str], request: Request, backend: NamedDependency[Backend]
) -> Response[bytes]:
    """The webhook when TRACKER_WEBHOOK_TOKENS is set: a wrong token is 404, nothing stored."""
    return await _receive(request, backend)


async def _receive(request: Request, backend: Backend) -> Response[bytes]:
    answer = await take(await request.body(), backend.record, seen(request.scope))
    return Response(answer.content, status_code=answer.status, media_type=answer.media_type)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the webhook answers a body: its status, bytes and media type."""

    status: int
    content: bytes
    media_type: str


async def take(
    body: bytes, record: Callable[[Batch], Awaitable[Receipt]], what: Seen | None = None
) -> Answer:
    """A body read, its batch recorded by ``record``, and the webhook's answer: the one path
    of the webhook and of a replay (``POST /requests/{id}/replay``, ``tracker replay``).
    ``what`` is told the format, the message numbers and how many ids were acknowledged."""
    what = what or Seen()
    xml = xml_intake.is_xml(body)
    what.format = "xml" if xml else "json"
    try:
        if xml:
            intake = await _read_xml(body)
        else:
            intake = await _read_json(body)
    except BodyError as e:
        await record(Batch((), (e.quarantine,)))
        metrics.count_quarantined_body()
        problem = {"status_code": 400, "detail": e.problem}
        return Answer(400, msgspec.json.encode(problem), "application/json")
    what.ids = sorted({status.id_sms for status in intake.statuses})
    receipt = await record(Batch(tuple(intake.statuses), tuple(intake.unusable)))
    if intake.unusable:
        log.warning("quarantined %d item(s) without a usable id_sms", len(intake.unusable))
    answer = intake.acknowledgement(receipt.stored)
    what.acknowledged = len(answer)
    metrics.count_receipt(receipt, len(answer))
    if xml:
        return Answer(200, _xml_answer(answer), "text/xml")  # Litestar adds utf-8
    return Answer(200, msgspec.json.encode(answer), "application/json")


def _xml_answer(acknowledged: list[dict[str, int | str]]) -> bytes:
    """The XML webhook's answer: the ids stored, each as its attribute's text (ASCII digits,
    nothing to escape)."""
    ids = b"".join(b"<id_sms>%s</id_sms>" % str(a["id_sms"]).encode() for a in acknowledged)
    return b'<?xml version="1.0" encoding="utf-8" ?><response>' + ids + b"</response>"


async def _read_xml(body: bytes) -> Intake:
    # As JSON: the documented form in one pass, here unless the body is large; any other off
    # the event loop (each element costs Python there, and expat holds the interpreter's lock).
    small = len(body) < 65536
    intake = read_plain_xml(body) if small else None
    if intake is None:
        intake = await anyio.to_thread.run_sync(
            _read_any_xml if small else xml_intake.read_body, body
        )
    return intake


def _read_any_xml(body: bytes) -> Intake:
    return xml_intake.read_body(body, plain=False)


async def _read_json(body: bytes) -> Intake:
    # The documented form is read in one typed pass, here unless the body is large; any other
    # body item by item in a worker thread, however small (a 64 KB body of odd items once held
    # the event loop for 50-80 ms, every other request waiting).
    small = len(body) < 65536
    intake = read_plain(body) if small else None
    if intake is None:
        intake = await anyio.to_thread.run_sync(read_items if small else read_body, body)
    return intake
