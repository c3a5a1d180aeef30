"""Quarantined input: what arrived but named no message, kept with the reason, never dropped.

One aggregate per distinct (kind, raw content): the platform re-sends whatever we did not
acknowledge, so a repeat is recorded as another receipt of the same item, not as a new item.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

# Never change: every quarantined item's aggregate id is derived from it.
QUARANTINE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:tracker:quarantine")

ITEM = "item"  # one element of a batch, without a usable id_sms
ITEMS = "items"  # a body's elements without one past the first thousand, as a JSON array
BODY = "body"  # a whole request body that is not a JSON array


class QuarantinedInput(Aggregate):
    """Raw input the tracker could not attribute to a message, and each time it was received."""

    @staticmethod
    def create_id(kind: str, raw: str) -> UUID:
        return quarantine_id(kind, raw)

    @event("Quarantined")
    def __init__(
        self, kind: str, raw: str, encoding: str, reason: str, received_at: datetime
    ) -> None:
        self.kind = kind
        self.raw = raw
        self.encoding = encoding
        self.receipts: list[tuple[datetime, str]] = [(received_at, reason)]

    @event("ReceivedAgain")
    def received_again(self, reason: str, received_at: datetime) -> None:
        self.receipts.append((received_at, reason))


def quarantine_id(kind: str, raw: str) -> UUID:
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    return uuid5(QUARANTINE_NAMESPACE, f"{kind}:{digest}")
