"""POST /messages/sent: what was sent, registered through the writer; the stored ids answered."""

from __future__ import annotations

import logging

import anyio
import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency

from tracker.application import Batch
from tracker.web import metrics
from tracker.web.access import SENDER, requires
from tracker.web.backend import Backend
from tracker.web.intake import BodyError
from tracker.web.openapi import API_KEY, KEYED, RegistrationOperation, problems
from tracker.web.request_log import REGISTRATION, seen
from tracker.web.sent_intake import read_registrations

log = logging.getLogger("tracker")

JSON = "application/json"
SMALL = 65536  # bytes of a body read on the event loop; a larger one is read in a thread


@post(
    "/messages/sent",
    status_code=200,
    summary="Register what was sent: sending time, sender, campaign, channel, parts",
    guards=[requires(SENDER)],
    security=API_KEY,
    operation_class=RegistrationOperation,
    responses=problems(400, 408, 413, *KEYED),
)
async def register_sent(request: Request, backend: NamedDependency[Backend]) -> Response[bytes]:
    """Store a registration for each item, then answer with the ids that are durably stored,
    as the webhook answers (``[{"id_sms": ...}]``, each id in its own JSON type).

    The first registration of a message stands; the same one again records nothing; a
    different one is recorded as a conflict and never replaces it; an item with a value that
    cannot be read is recorded as rejected, with the reason. Every one of them is
    acknowledged. An item whose ``id_sms`` names no message is quarantined (not acknowledged);
    a body that is not a JSON array gets 400, is quarantined whole, and acknowledges nothing.
    Keys of the ``sender`` role (and ``admin``) may register; no other role may.
    """
    what = seen(request.scope)
    what.format = REGISTRATION
    body = await request.body()
    zone = backend.tracker.local_zone
    try:
        if len(body) < SMALL:
            intake = read_registrations(body, zone)
        else:
            intake = await anyio.to_thread.run_sync(read_registrations, body, zone)
    except BodyError as e:
        await backend.record(Batch((), (e.quarantine,)))
        metrics.count_quarantined_body()
        problem = {"status_code": 400, "detail": e.problem}
        return Response(msgspec.json.encode(problem), status_code=400, media_type=JSON)
    what.ids = sorted({r.id_sms for r in intake.registrations})
    receipt = await backend.record(
        Batch((), tuple(intake.unusable), registrations=tuple(intake.registrations))
    )
    if intake.unusable:
        log.warning("quarantined %d registration(s) without a usable id_sms", len(intake.unusable))
    answer = intake.acknowledgement(receipt.stored)
    what.acknowledged = len(answer)
    metrics.count_receipt(receipt, len(answer), registrations=True)
    return Response(msgspec.json.encode(answer), status_code=200, media_type=JSON)
