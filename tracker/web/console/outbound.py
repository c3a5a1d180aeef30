"""The console's page of the outbound webhooks: each endpoint's deliveries, as GET /forwarding."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency

from tracker.web.access import AUDITOR
from tracker.web.backend import Backend
from tracker.web.console.render import page, sees


@get("/forwarding", guards=[sees(AUDITOR)])
async def forwarding(request: Request, backend: NamedDependency[Backend]) -> Response:
    """Each endpoint of TRACKER_FORWARD_URL: delivered up to, behind, attempts and failures,
    the last answer, the next attempt."""
    status = await backend.read(backend.forwarding_status)
    return await page(request, "forwarding.html", forwarding=status)
