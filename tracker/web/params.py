"""Reading the id_sms a path carries, for the JSON API and the console alike."""

from __future__ import annotations

from litestar.exceptions import ClientException

from tracker.domain.ids import message_number


def position_number(position: str) -> int:
    """A report's position in a history, as a path carries it: ASCII digits, nothing else."""
    if not (position.isascii() and position.isdigit() and len(position) <= 18):
        raise ClientException(
            detail=f"position must be ASCII digits (0: the first report): {position[:40]!r}"
        )
    return int(position)


def id_sms_number(id_sms: str) -> int:
    """The message number an id_sms in a path names; anything else is a 400 saying why."""
    number = message_number(id_sms)
    if number is None:
        raise ClientException(detail=f"id_sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}")
    return number
