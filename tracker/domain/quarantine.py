"""Quarantined input: what arrived but named no message, kept with the reason, never dropped.

One aggregate per distinct (kind, raw content): the platform re-sends whatever we did not
acknowledge, so a repeat is recorded as another receipt of the same item, not as a new item.
Deciding needs only the item's last version, never its receipts (an item received 100,000
times must not be read back 100,000 events long).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec

from tracker.domain.events import Envelope, Quarantined, QuarantinedAgain

# Never change: every quarantined item's aggregate id is derived from it.
QUARANTINE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:tracker:quarantine")

ITEM = "item"  # one element of a batch, without a usable id_sms
ITEMS = "items"  # a body's elements without one past the first thousand, as a JSON array
BODY = "body"  # a whole request body that is not a JSON array


class QuarantinedInput(msgspec.Struct, gc=False):
    """Raw input the tracker could not attribute to a message, as far as deciding needs."""

    id: UUID  # quarantine_id(kind, raw)
    version: int = 0  # of its last event; 0 while it has none

    def receive(
        self, kind: str, raw: str, encoding: str, reason: str, received_at: datetime
    ) -> Envelope:
        """The event recording one more receipt (the same input twice in one request is one
        receipt: the caller gives each request's input once)."""
        self.version += 1
        if self.version == 1:
            return Envelope(self.id, 1, Quarantined(kind, raw, reason, received_at, encoding))
        return Envelope(self.id, self.version, QuarantinedAgain(reason, received_at))


def quarantine_id(kind: str, raw: str) -> UUID:
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    return uuid5(QUARANTINE_NAMESPACE, f"{kind}:{digest}")
