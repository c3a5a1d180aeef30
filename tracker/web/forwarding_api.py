"""The outbound webhooks' route: how each endpoint's deliveries stand (GET /forwarding)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from tracker.forwarding.status import ForwardingStatus
from tracker.web.access import AUDITOR
from tracker.web.api import for_roles
from tracker.web.backend import Backend


@get(
    "/forwarding",
    summary="Each outbound webhook endpoint: position delivered, lag, attempts, failures",
    **for_roles(AUDITOR),
)
async def forwarding(backend: NamedDependency[Backend]) -> ForwardingStatus:
    """The endpoints of TRACKER_FORWARD_URL in their order there (an empty list: none is set),
    each shown without credentials (no user, password or query): the position up to which
    every change was delivered (a 2xx came), the change feed's head, the attempts and failures
    counted since the endpoint was first seen, the last answer and error, and when the next
    attempt is due after a failure. Failures are retried until a 2xx comes; nothing is skipped."""
    return await backend.read(backend.forwarding_status)
