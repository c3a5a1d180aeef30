"""Reading registrations (POST /messages/sent, tracker register): item by item, no I/O.

An item is ``{"id_sms", "sent_at", "sender", "campaign", "channel", "parts"}``, all but id_sms
optional. The webhook's rules apply (web/intake.py): an item whose id_sms names no message goes
to quarantine; an item with a readable id_sms but a value that cannot be read (a lone surrogate,
bytes that are not UTF-8, a key given twice, an unknown key, a value of the wrong type, out of
range, too long) is a registration rejected at receipt, its reason and text kept, and its id
acknowledged. ``tracker register`` reads each line of a file with the same ``read_item``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from tracker.application import Registering
from tracker.domain.registration import MAX_PARTS, TEXT_LIMIT, Registration
from tracker.domain.timestamps import TimeOutOfRange, parse_time
from tracker.web import scan
from tracker.web.intake import (
    _UNREADABLE,
    UTF8_BOM,
    Intake,
    _decode,
    _given_twice,
    _ids,
    _items,
    _json_type,
    _not_an_object,
    _shorten,
    _shown,
    _text,
    _why,
)

TEXTS = ("sender", "campaign", "channel")
KEYS = ("id_sms", "sent_at", *TEXTS, "parts")  # every key an item may have, each once
WHAT = "registrations"  # what a body must be an array of
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 (a terminal may act on either)


@dataclass(slots=True)
class Registrations(Intake):
    """A body of registrations read item by item: what to store (``registrations``), what to
    quarantine (``unusable``), which ids to echo back (``acknowledgement``)."""

    registrations: list[Registering] = field(default_factory=list)
    # An item's bytes -> what it made (a string: why it was quarantined): a body repeating one
    # item costs one reading of it, not one each time.
    _read: dict[bytes, tuple[int | str, Registering] | str] = field(default_factory=dict)


def read_registrations(body: bytes, local_zone: tzinfo) -> Registrations:
    """A body of registrations; raises intake.BodyError when it is not a JSON array."""
    intake = Registrations()
    for item in _items(body.removeprefix(UTF8_BOM), WHAT):
        read_item(item, intake, local_zone)
    intake.finish()
    return intake


def read_item(raw: bytes, intake: Registrations, local_zone: tzinfo) -> str | None:
    """Take one item (a JSON object's text) into ``intake``: None when it names a message
    (registered, or rejected with its reason), else why it was quarantined."""
    known = intake._read.get(raw)
    if type(known) is str:  # quarantined already: one receipt
        return known
    if known is not None:
        token, registering = known  # type: ignore[misc]
        intake.registrations.append(registering)
        intake.tokens.setdefault(token, registering.id_sms)
        return None
    members = scan.members(raw)
    if members is None:
        return _quarantine(raw, intake, _not_an_object(raw))
    values: dict[str, list[bytes]] = {}
    problems: list[str] = []
    for key, value in members:
        try:
            name = _decode(key, type=str)
        except _UNREADABLE as e:
            problems.append(f"a key {_shorten(_shown(key))} is not readable: {_why(key, e)}")
            continue
        values.setdefault(name, []).append(value)
    ids = _ids(values.get("id_sms", []))
    if isinstance(ids, str):
        return _quarantine(raw, intake, ids)
    if len(set(ids.values())) > 1:  # which message is it about? none can hold it as its own
        intake.withheld.update(ids.values())
        return _quarantine(raw, intake, f"{_given_twice('id_sms', values['id_sms'])}, naming "
                                        "different messages")  # fmt: skip
    if len(values["id_sms"]) > 1:
        problems.append(_given_twice("id_sms", values["id_sms"]))
    unknown = [k for k in values if k not in KEYS]
    if unknown:
        listed = ", ".join(repr(_shorten(k)) for k in unknown[:3])
        more = f", ... ({len(unknown)} in all)" if len(unknown) > 3 else ""
        problems.append(f"unknown key {listed}{more} (keys: {', '.join(KEYS)})")
    fields = {k: _value(k, values.get(k, []), problems) for k in KEYS[1:]}
    sent_at = _sent_at(fields["sent_at"], problems, local_zone)
    texts = [_text_field(k, fields[k], problems) for k in TEXTS]
    parts = _parts(fields["parts"], problems)
    text, encoding = _text(raw)
    if encoding is not None:  # bytes that are not UTF-8 outside the values read
        problems.append("the item holds bytes that are not UTF-8 (kept as base64)")
    reason = "; ".join(dict.fromkeys(problems)) or None
    registration = Registration(sent_at, *texts, parts, reason)
    [(token, number), *others] = ids.items()
    sent = token if type(token) is str else None
    registering = Registering(number, registration, text if reason else None, sent)
    intake._read[raw] = (token, registering)
    intake.registrations.append(registering)
    intake.tokens.setdefault(token, number)
    for other, same in others:  # the same message, its id written another way too
        intake.tokens.setdefault(other, same)
    return None


def _quarantine(raw: bytes, intake: Registrations, reason: str) -> str:
    intake._read[raw] = reason
    intake.quarantine(raw, reason)
    return reason


_MISSING = object()


def _value(key: str, given: list[bytes], problems: list[str]) -> object:
    """The value of a key, decoded; None when missing or null; ``_MISSING`` (with the problem
    noted) when given twice or unreadable."""
    if len(given) > 1:
        problems.append(_given_twice(key, given))
        return _MISSING
    if not given:
        return None
    try:
        return _decode(given[0])
    except _UNREADABLE as e:
        problems.append(f"{key} {_shorten(_shown(given[0]))} is not readable: {_why(given[0], e)}")
        return _MISSING


def _sent_at(value: object, problems: list[str], local_zone: tzinfo) -> datetime | None:
    if value is None or value is _MISSING:
        return None
    if not isinstance(value, str):
        problems.append(f"sent_at is {_json_type(value)}, not a string")
        return None
    try:
        instant = parse_sent_at(value, local_zone)
    except ValueError as e:
        problems.append(str(e))
        return None
    return instant


def parse_sent_at(text: str, local_zone: tzinfo) -> datetime:
    """The UTC instant of a sending time: ISO 8601 (RFC 3339) with an offset or Z, or the
    platform's naive ``YYYY-MM-DD HH:MM:SS`` read in ``local_zone``. Raises ValueError saying
    why not (no offset, not a time, out of range)."""
    shown = repr(_shorten(text))
    try:
        local = parse_time(text, local_zone)
    except TimeOutOfRange:
        raise ValueError(f"sent_at {shown} has no UTC instant (out of range)") from None
    if local is not None:
        return local
    if not text.isascii():
        raise ValueError(f"sent_at {shown} is not an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"sent_at {shown} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(
            f"sent_at {shown} has no offset: give one (Z, +03:00) or YYYY-MM-DD HH:MM:SS"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"sent_at {shown} has no UTC instant (out of range)") from None


def _text_field(key: str, value: object, problems: list[str]) -> str | None:
    if value is None or value is _MISSING:
        return None
    if not isinstance(value, str):
        problems.append(f"{key} is {_json_type(value)}, not a string")
        return None
    if not value.strip():
        problems.append(f"{key} is blank")
        return None
    if len(value) > TEXT_LIMIT:
        problems.append(f"{key} is {len(value)} characters long, more than {TEXT_LIMIT}")
        return None
    if _CONTROL.search(value):
        problems.append(f"{key} holds a control character")
        return None
    return value


def _parts(value: object, problems: list[str]) -> int | None:
    if value is None or value is _MISSING:
        return None
    if type(value) is not int:
        problems.append(f"parts is {_json_type(value)}, not an integer")
        return None
    if not 1 <= value <= MAX_PARTS:
        problems.append(f"parts {value} is not from 1 to {MAX_PARTS}")
        return None
    return value
