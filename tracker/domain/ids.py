"""What names a message: the platform's ``id_sms``, in either of the JSON types it arrives in,
and the aggregate id derived from it."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID

MAX_ID_SMS = 2**63 - 1


def message_number(value: object) -> int | None:
    """The message number named by a raw ``id_sms``, or None when it names no message.

    A JSON integer from 0 to 2^63-1 (never a boolean) or a string of ASCII digits with such a
    value; ``3234`` and ``"3234"`` (and ``"003234"``) name the same message.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_ID_SMS else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        significant = value.lstrip("0") or "0"
        if len(significant) > 19:  # also keeps int() away from huge strings
            return None
        number = int(significant)
        return number if number <= MAX_ID_SMS else None
    return None


_M64 = (1 << 64) - 1


@lru_cache(maxsize=1 << 13)  # bounded: every UUID is one more object for the collector
def message_id(id_sms: int) -> UUID:
    """The aggregate id of the message ``id_sms`` names: a version 8 UUID (RFC 9562) whose
    first 63 bits (around the version and variant bits) are the number itself, then 59 bits
    that mix it.

    Neighbouring numbers get neighbouring ids, so a batch of the platform's recent messages
    lands in a few pages of the store's primary key index instead of one random page each
    (a uuid5 did that: its commits wrote several times the pages); the mixed tail spreads
    messages evenly over the id's last byte, which splits a rebuild among workers.
    Every host derives the same id, with no lookup.
    """
    n = id_sms
    return UUID(
        int=((n >> 15) << 80)  # 48 bits
        | (0x8 << 76)  # version 8
        | (((n >> 3) & 0xFFF) << 64)  # 12 bits
        | (0b10 << 62)  # the RFC's variant
        | ((n & 0x7) << 59)  # the last 3 bits of the number
        | (_mix(n) >> 5)  # 59 bits
    )


def _mix(n: int) -> int:
    """SplitMix64's finalizer: 64 well-spread bits from any 64-bit number."""
    z = (n + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def id_sms_of(originator_id: UUID) -> int:
    """The number a message id (``message_id``) was made from."""
    return id_sms_in(originator_id.int)


def id_sms_in(bits: int) -> int:
    """The number in a message id's 128 bits: its first 63, around the version and variant
    bits (a store's row gives the bits without a UUID object to make first)."""
    return ((bits >> 80) << 15) | (((bits >> 64) & 0xFFF) << 3) | ((bits >> 59) & 0x7)


def is_message_id(originator_id: UUID) -> bool:
    """Whether this id names a message (a version 8 id), not a quarantined input (version 5)."""
    return originator_id.version == 8
