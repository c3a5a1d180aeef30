"""A message's registration: what the sender says it sent, and what a second registration does.

A registration is not a status: it never changes the fold of the reports. It says when the
message was sent, by whom, in which campaign, on which channel, in how many parts. The first one
a message receives stands; the same one again is nothing new (no event); a different one is
recorded as a conflict and shown, never applied. One whose values could not be read is kept
with the reason (an auditor sees it) and never applied, as a rejected report is.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

REGISTERED = "registered"  # the outcome of the registration that stands; the views' state of a
#                            registered message with no known state (not a platform state)
CONFLICT = "conflict"  # differs from the registration the message holds: recorded, not applied
REJECTED = "rejected"  # a value could not be read (its reason says which): recorded, not applied
REGISTRATION_OUTCOMES = (REGISTERED, CONFLICT, REJECTED)

TEXT_LIMIT = 64  # characters of a sender, campaign or channel
MAX_PARTS = 255  # parts of one message (a concatenated SMS has at most 255)


class Registration(msgspec.Struct, frozen=True, gc=False):
    """What a sender registered for one message; every field may be missing. Two are the same
    registration when every field is equal (so it is its own identity)."""

    sent_at: datetime | None = None  # a UTC instant
    sender: str | None = None
    campaign: str | None = None
    channel: str | None = None
    parts: int | None = None
    reason: str | None = None  # why it was rejected at receipt (a value could not be read)


def decide_registration(
    registration: Registration,
    held: Registration | None,
    seen: tuple[Registration, ...] | set[Registration],
) -> str | None:
    """What a registration does to a message that holds ``held`` (the one that stands, None
    when none does) and has received the registrations ``seen``: None when it is one of them
    (nothing to record), else its outcome."""
    if registration in seen:
        return None
    if registration.reason is not None:
        return REJECTED
    return REGISTERED if held is None else CONFLICT
