"""Reading a webhook body: each item judged on its own, nothing usable dropped (no I/O here).

The platform's items are ``{"id_sms", "time", "state"}``; docs/webhook.md describes what
happens to every other shape. An item whose ``id_sms`` names a message is always stored (an odd
state or time is stored as received); an item that names no message goes to quarantine.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tracker.application import Status, Unusable
from tracker.domain.ids import message_number
from tracker.domain.quarantine import BODY, ITEM

# Everything msgspec raises on input it cannot read (bad UTF-8, too deep, numbers out of range).
_UNREADABLE = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


class PlainItem(msgspec.Struct, forbid_unknown_fields=True):
    """The documented item, exactly: decoded in one pass when a whole body is made of them."""

    id_sms: int | str
    time: str
    state: str


class BodyError(Exception):
    """The body as a whole is unusable (not JSON, or not an array): nothing is acknowledged."""

    def __init__(self, problem: str, quarantine: Unusable):
        super().__init__(problem)
        self.problem = problem
        self.quarantine = quarantine


@dataclass(slots=True)
class Intake:
    """A body read item by item: what to store, what to quarantine, which ids to echo back."""

    statuses: list[Status] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    # id token as it arrived (int or str) -> the message number it names; first-seen order
    tokens: dict[int | str, int] = field(default_factory=dict)

    def add(self, token: int | str, number: int, state: str, time: str, raw: str | None) -> None:
        self.statuses.append(Status(number, state, time, raw))
        self.tokens.setdefault(token, number)

    def acknowledgement(self, stored: frozenset[int]) -> list[dict[str, int | str]]:
        """The answer: every id token whose message number was stored, in its own JSON type."""
        return [{"id_sms": token} for token, number in self.tokens.items() if number in stored]


UTF8_BOM = b"\xef\xbb\xbf"


def read_body(body: bytes) -> Intake:
    """Read a webhook body; raises BodyError when it is not a JSON array.

    A leading UTF-8 byte order mark is ignored (RFC 8259 lets a reader do so)."""
    body = body.removeprefix(UTF8_BOM)
    try:
        plain = msgspec.json.decode(body, type=list[PlainItem])
    except _UNREADABLE:
        return _read_items(body)
    intake = Intake()
    for item in plain:
        number = message_number(item.id_sms)
        if number is None:  # the slow path says why, and keeps the raw item
            return _read_items(body)
        intake.add(item.id_sms, number, item.state, item.time, None)
    return intake


def _read_items(body: bytes) -> Intake:
    try:
        items = msgspec.json.decode(body, type=list[msgspec.Raw])
    except _UNREADABLE as e:
        problem = _body_problem(body, e)
        raise BodyError(problem, _quarantined(BODY, body, problem)) from None
    intake = Intake()
    for raw in items:
        _read_item(bytes(raw), intake)
    return intake


def _read_item(raw: bytes, intake: Intake) -> None:
    try:
        item = msgspec.json.decode(raw)
    except _UNREADABLE as e:
        intake.unusable.append(_quarantined(ITEM, raw, f"item is not readable JSON: {e}"))
        return
    if not isinstance(item, dict):
        reason = f"item is {_json_type(item)}, not an object"
        intake.unusable.append(_quarantined(ITEM, raw, reason))
        return
    if "id_sms" not in item:
        intake.unusable.append(_quarantined(ITEM, raw, "item has no id_sms"))
        return
    token = item["id_sms"]
    number = message_number(token)
    if number is None:
        reason = f"id_sms {_shorten(raw_json(token))} is not an integer from 0 to 2^63-1"
        intake.unusable.append(_quarantined(ITEM, raw, reason))
        return
    plain = set(item) == {"id_sms", "state", "time"} and all(
        isinstance(item[k], str) for k in ("state", "time")
    )
    intake.add(
        token,
        number,
        _text(item.get("state")),
        _text(item.get("time")),
        None if plain else raw.decode(),
    )


def _text(value: Any) -> str:
    """A field as the text the rules see: strings as they are, a missing or null field blank,
    anything else its JSON text (never a known state or a parseable time)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else raw_json(value)


def raw_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _quarantined(kind: str, raw: bytes, reason: str) -> Unusable:
    try:
        return Unusable(kind, raw.decode(), reason)
    except UnicodeDecodeError:
        return Unusable(kind, base64.b64encode(raw).decode(), reason, encoding="base64")


def _body_problem(body: bytes, error: Exception) -> str:
    if not body.strip():
        return "the body is empty; expected a JSON array of statuses"
    if isinstance(error, msgspec.ValidationError):
        try:
            value = msgspec.json.decode(body)
        except _UNREADABLE:
            return f"the body is not valid JSON: {error}"
        return f"expected a JSON array of statuses, got {_json_type(value)}"
    if isinstance(error, UnicodeDecodeError):
        return "the body is not valid UTF-8"
    if isinstance(error, RecursionError):
        return "the body is nested too deeply"
    return f"the body is not valid JSON: {error}"


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
