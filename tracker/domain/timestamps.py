"""The platform's naive local timestamps ("YYYY-MM-DD HH:MM:SS") turned into UTC instants."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Europe/Moscow"  # the platform's servers run on Moscow time; the docs name no zone

# Exactly YYYY-MM-DD HH:MM:SS in ASCII digits (str.isdigit and \d take other scripts' digits too).
_PLATFORM_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


class TimeOutOfRange(ValueError):
    """A real calendar date and time that has no UTC instant Python can hold (year 1 east of
    Greenwich, year 9999 west of it): the report is rejected, with this as its reason."""


def zone(name: str) -> tzinfo:
    """The named IANA zone; raises ValueError with the name when it is not a known zone."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


def parse_time(raw: str, local_zone: tzinfo) -> datetime | None:
    """The UTC instant of a platform timestamp, or None when the time is blank or unparseable.

    Strict on purpose: exactly ``YYYY-MM-DD HH:MM:SS`` with a real calendar date. Anything else
    is an unknown time, which the fold orders first (see docs/state-machine.md). A real
    timestamp with no UTC instant raises ``TimeOutOfRange``.
    """
    if _PLATFORM_TIME.fullmatch(raw) is None:
        return None
    try:
        wall = datetime.fromisoformat(raw)  # the form checked: only the calendar is left
    except ValueError:  # 2011-02-30, 25:00:00 and the like
        return None
    return instant_of(wall, local_zone)


def instant_of(wall: datetime, local_zone: tzinfo) -> datetime:
    """The UTC instant of a naive wall-clock time in ``local_zone``, in wall-clock order.

    Instants never run backwards while wall-clock times run forwards, across clock shifts too:
    a time that a shift forward skipped (Moscow, 2011-03-27 02:30) is the instant of the shift
    (02:00 +03 = 03:00 +04); a time that a shift back repeated (Moscow, 2014-10-26 01:30) is its
    first occurrence (+04). Python's own reading of a skipped time (the offset before the
    shift) would place 02:30 after 03:10. Raises ``TimeOutOfRange`` when there is no instant.
    """
    try:
        instant = wall.replace(tzinfo=local_zone).astimezone(UTC)  # fold=0: first occurrence
        if instant.astimezone(local_zone).replace(tzinfo=None) == wall:
            return instant
        return _shift_instant(wall, local_zone)
    except OverflowError:
        raise TimeOutOfRange(
            f"{wall.isoformat(sep=' ')} in {local_zone} has no UTC instant (out of range)"
        ) from None


def _shift_instant(wall: datetime, local_zone: tzinfo) -> datetime:
    """The instant of the shift forward that skipped ``wall``: the first second whose wall
    time is at or past it. Python reads a skipped time with the offset before the shift
    (``fold=0``, an instant after the shift) or after it (``fold=1``, an instant before the
    shift); the shift lies between the two, found to the second (shifts fall on whole seconds)."""
    late = wall.replace(tzinfo=local_zone).astimezone(UTC)
    early = wall.replace(tzinfo=local_zone, fold=1).astimezone(UTC)
    if early > late:
        early, late = late, early

    def reached(moment: datetime) -> bool:
        return moment.astimezone(local_zone).replace(tzinfo=None) >= wall

    low, high = 0, int((late - early).total_seconds())  # reached(early + high) holds
    while low < high:
        middle = (low + high) // 2
        if reached(early + timedelta(seconds=middle)):
            high = middle
        else:
            low = middle + 1
    return early + timedelta(seconds=low)
