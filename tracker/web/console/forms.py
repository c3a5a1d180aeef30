"""What the console's forms and links send, read strictly, and the links between list pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from tracker.read import queries

BadFilter = queries.BadFilter  # a filter the list cannot apply; the page says which and why


def yes_no(name: str, text: str) -> bool | None:
    answers = {"": None, "yes": True, "true": True, "no": False, "false": False}
    if text.lower() not in answers:
        raise BadFilter(f"{name}: {text[:40]!r} is not yes or no")
    return answers[text.lower()]


def as_chosen(text: str) -> str:
    """A yes/no filter as its drop-down shows it (``TRUE`` is ``yes``): the form sent again
    keeps it. A value that is neither stays as sent, for the error to quote."""
    return {"yes": "yes", "true": "yes", "no": "no", "false": "no"}.get(text.lower(), text)


def form_instant(name: str, text: str) -> datetime | None:
    """A date or date-time as a browser's datetime-local input sends it (naive: the query
    reads it as UTC, as the API's)."""
    return (
        queries.utc_instant(name, text, "a date and time (e.g. 2024-05-01T10:00)") if text else None
    )


DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
RANGE_DAYS = (30, 366)  # the overview's range of sending days: by default, at most


def form_day(name: str, text: str) -> date | None:
    """A UTC date as a browser's date input sends it: YYYY-MM-DD, nothing else."""
    if not text:
        return None
    try:
        if DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise BadFilter(f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)")


def day_range(first: str, last: str, today: date) -> tuple[date, date]:
    """The overview's range of sending days, both included: the last 30 days up to today
    (UTC) unless the form says otherwise; one end alone keeps the default length."""
    begin, end = form_day("from", first), form_day("to", last)
    default, most = RANGE_DAYS
    if end is None:  # up to today, within the longest range (and the calendar's last day)
        end = today if begin is None else min(max(today, begin), _shifted(begin, most - 1))
    if begin is None:
        begin = _shifted(end, -(default - 1))
    if begin > end:
        raise BadFilter(f"from: {begin} is after to ({end})")
    if (end - begin).days >= most:
        raise BadFilter(f"from: {begin} to {end} is more than {most} days")
    return begin, end


def _shifted(day: date, days: int) -> date:
    """``day`` moved by ``days``, stopped at the first or last day a date can hold."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def page_size(text: str, default: int, most: int) -> int:
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or not 1 <= int(text) <= most:
        raise BadFilter(f"limit: {text[:20]!r} is not a number from 1 to {most}")
    return int(text)


def offset(text: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or not text.isascii() or len(text) > 9:
        raise BadFilter(f"{text[:20]!r} is not a position in the timeline")
    return int(text)


@dataclass(frozen=True)
class Pager:
    """Links between the pages of a list whose cursor only goes forward: the address of each
    page carries the cursors of the pages before it (the last TRAIL of them, "+" first when
    older ones were left out), so "Previous" can lead back; "First page" always can."""

    first: str | None  # None on the first page
    previous: str | None
    next: str | None

    TRAIL = 40
    CUT = "+"

    @classmethod
    def of(
        cls, path: str, kept: dict[str, str], cursor: str, trail: str, after: str | None
    ) -> Pager:
        back = [c for c in trail.split(",") if c][-cls.TRAIL - 1 :] if cursor else []

        def at(cursor: str, back: list[str]) -> str:
            where = {**kept, **({"cursor": cursor} if cursor else {})}
            if back:
                where["trail"] = ",".join(back)
            return f"{path}?{urlencode(where)}" if where else path

        first = at("", []) if cursor else None
        if not back:
            previous = first  # the second page goes back to the first
        elif back[-1] == cls.CUT:
            previous = None  # the page before was left out of the address
        else:
            previous = at(back[-1], back[:-1])
        if after is None:
            return cls(first, previous, None)
        ahead = [*back, cursor] if cursor else []
        if len(ahead) > cls.TRAIL:
            ahead = [cls.CUT, *ahead[-cls.TRAIL :]]
        return cls(first, previous, at(after, ahead))
