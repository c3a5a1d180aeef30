"""The platform's naive local timestamps ("YYYY-MM-DD HH:MM:SS") turned into UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Europe/Moscow"  # the platform's servers run on Moscow time; the docs name no zone

_DIGITS = frozenset("0123456789")


def zone(name: str) -> tzinfo:
    """The named IANA zone; raises ValueError with the name when it is not a known zone."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


def parse_time(raw: str, local_zone: tzinfo) -> datetime | None:
    """The UTC instant of a platform timestamp, or None when the time is blank or unparseable.

    Strict on purpose: exactly ``YYYY-MM-DD HH:MM:SS`` with a real calendar date. Anything else
    is an unknown time, which the fold orders first (see docs/state-machine.md).
    """
    if len(raw) != 19 or raw[4] != "-" or raw[7] != "-" or raw[10] != " ":
        return None
    if raw[13] != ":" or raw[16] != ":":
        return None
    fields = (raw[0:4], raw[5:7], raw[8:10], raw[11:13], raw[14:16], raw[17:19])
    if not all(_DIGITS.issuperset(f) for f in fields):
        return None
    try:
        local = datetime(*map(int, fields), tzinfo=local_zone)  # type: ignore[misc]
    except ValueError:  # 2011-02-30, 25:00:00 and the like
        return None
    return local.astimezone(UTC)
