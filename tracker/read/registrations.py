"""A message's registrations as its history shows them, in their place among its reports."""

from __future__ import annotations

from typing import Any

from tracker.domain.events import Registered
from tracker.domain.registration import REGISTERED
from tracker.read.models import RegistrationRecord


def raw_fields(raw: str | None, cut: int | None) -> dict[str, Any]:
    """An item's raw text, cut to ``cut`` characters, with its whole size and whether it is."""
    if raw is None:
        return {}
    size = len(raw.encode("utf-8", "surrogatepass"))
    shown = raw if cut is None or len(raw) <= cut else raw[:cut]
    return {"raw": shown, "raw_bytes": size, "truncated": shown is not raw}


def record(event: Registered, id_sms: int, before: int, cut: int | None) -> RegistrationRecord:
    """One stored registration as a history shows it; ``before``: reports received before it."""
    return RegistrationRecord(
        received_at=event.received_at,
        id_sms=id_sms if event.id_sent is None else event.id_sent,
        outcome=event.outcome,
        before=before,
        sent_at=event.sent_at,
        sender=event.sender,
        campaign=event.campaign,
        channel=event.channel,
        parts=event.parts,
        reason=event.reason,
        **raw_fields(event.raw, cut),
    )


def on_page(
    registered: list[tuple[Registered, int]],
    id_sms: int,
    page: tuple[int, int, int],
    cut: int | None,
    most: int | None = None,
) -> dict[str, Any]:
    """A history page's registration fields: the one that stands, and those whose place is
    among the page's reports (``page``: its start, its end, and the reports in all), the last
    page taking those received after every report: the first ``most`` of them (None: all),
    with how many more there are (one id may be registered differently without end)."""
    start, end, total = page
    standing = next(((e, n) for e, n in registered if e.outcome == REGISTERED), None)
    placed = [(e, n) for e, n in registered if start <= n < end or (n == total and end == total)]
    shown = placed if most is None else placed[:most]
    return {
        "registration": standing and record(standing[0], id_sms, standing[1], cut),
        "registrations": [record(e, id_sms, n, cut) for e, n in shown],
        "registrations_more": len(placed) - len(shown),
    }
