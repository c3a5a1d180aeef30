"""What names a message: the platform's ``id_sms``, in either of the JSON types it arrives in."""

from __future__ import annotations

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
