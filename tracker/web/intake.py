"""Reading a webhook body: each item judged on its own, nothing usable dropped (no I/O here).

The platform's items are ``{"id_sms", "time", "state"}``; docs/webhook.md describes what
happens to every other shape. An item whose ``id_sms`` can be read is always stored in that
message's history: as a report, or as a report rejected at receipt (with the reason) when a
value the rules read cannot be (a lone surrogate, bytes that are not UTF-8, a key given twice,
a time that is not a string, nesting too deep for a reader). An item that names no message
goes to quarantine. Only a body that is not a JSON array at all is refused as a whole.

Most bodies are the documented form exactly and are decoded in one typed pass (msgspec). Any
other body is split into its items by a scan of JSON's grammar that reads no value (any depth,
``web.scan``), and each item is read on its own.
"""

from __future__ import annotations

import base64
import re
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tracker.application import Status, Unusable
from tracker.domain.ids import message_number
from tracker.domain.quarantine import BODY, ITEM, ITEMS
from tracker.web import scan

# Everything msgspec raises on input it cannot read (bad UTF-8, too deep, numbers out of range).
_UNREADABLE = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)
_decode = msgspec.json.decode
KEYS = ("id_sms", "state", "time")  # the contract's keys: each must come once
# Items of one body quarantined one by one; the rest together, as one (a 5 MiB body of distinct
# numbers made 765,000 quarantine events: over 30 s of the writer's time for one request).
QUARANTINED_PER_BODY = 1000


class PlainItem(msgspec.Struct, forbid_unknown_fields=True):
    """The documented item, exactly: decoded in one pass when a whole body is made of them."""

    id_sms: int | str
    time: str
    state: str


class BodyError(Exception):
    """The body as a whole is unusable (not a JSON array): nothing is acknowledged."""

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
    # Messages named by a quarantined item (its id_sms named several): never acknowledged,
    # since that item is in none of their histories.
    withheld: set[int] = field(default_factory=set)
    _quarantined: set[tuple[str, str]] = field(default_factory=set)  # (kind, raw) in unusable
    _more: list[bytes] = field(default_factory=list)  # raw items past QUARANTINED_PER_BODY

    def add(self, token: int | str, number: int, state: str, time: str, **more: Any) -> None:
        """A status for message ``number``; ``more`` as ``Status`` takes it (raw, reason, ...)."""
        sent = token if type(token) is str else None
        self.statuses.append(Status(number, state, time, sent=sent, **more))
        self.tokens.setdefault(token, number)

    def quarantine(self, raw: bytes, reason: str) -> None:
        """An item that names no message. The same item twice in one body is one receipt (a
        body repeating it a million times costs the store no more than once); past the first
        QUARANTINED_PER_BODY distinct ones, the rest are kept together (``finish``)."""
        item = _quarantined(ITEM, raw, reason)
        key = (item.kind, item.raw)
        if key in self._quarantined:
            return
        self._quarantined.add(key)
        if len(self.unusable) < QUARANTINED_PER_BODY:
            self.unusable.append(item)
        else:
            self._more.append(raw)

    def finish(self, opening: bytes = b"[", between: bytes = b",", closing: bytes = b"]") -> Intake:
        """The items quarantined past the bound, as one: a JSON array of them, as sent (or
        what ``opening``, ``between`` and ``closing`` make of them: an XML body's)."""
        if self._more:
            reason = f"{len(self._more)} more items in this body name no message"
            joined = opening + between.join(self._more) + closing
            self.unusable.append(_quarantined(ITEMS, joined, reason))
            self._more = []
        return self

    def acknowledgement(self, stored: frozenset[int]) -> list[dict[str, int | str]]:
        """The answer: every id token whose message number was stored, in its own JSON type."""
        withheld = self.withheld
        return [
            {"id_sms": token}
            for token, number in self.tokens.items()
            if number in stored and number not in withheld
        ]


UTF8_BOM = b"\xef\xbb\xbf"


def read_body(body: bytes) -> Intake:
    """Read a webhook body; raises BodyError when it is not a JSON array.

    A leading UTF-8 byte order mark is ignored (RFC 8259 lets a reader do so)."""
    return read_plain(body) or read_items(body)


def read_plain(body: bytes) -> Intake | None:
    """The body when it is the documented form exactly, read in one typed pass (quick: a
    server may do it in its event loop); None otherwise, then ``read_items`` reads it."""
    return _read_plain(body.removeprefix(UTF8_BOM))


def read_items(body: bytes) -> Intake:
    """Any body, item by item (Python at each item: a server does it off its event loop)."""
    intake = Intake()
    for item in _items(body.removeprefix(UTF8_BOM)):
        _read_item(item, intake)
    return intake.finish()


def _read_plain(body: bytes) -> Intake | None:
    """The body when it is the documented form exactly, read in one typed pass; None otherwise
    (then each item is read on its own, which also finds what this pass cannot see)."""
    if b"\\" in body:  # an escape may spell a key twice ("st\u0061te"): read item by item
        return None
    try:
        items = _decode(body, type=list[PlainItem])
    except _UNREADABLE:
        return None
    intake = Intake()
    statuses, tokens, quotes = intake.statuses, intake.tokens, 10 * len(items)
    for item in items:  # Intake.add's work, inline: this runs per status on the event loop
        token = item.id_sms
        number = message_number(token)
        if number is None:  # the slow path says why, and keeps the raw item
            return None
        sent = token if type(token) is str else None
        statuses.append(Status(number, item.state, item.time, None, sent))
        if token not in tokens:
            tokens[token] = number
        if sent is not None:
            quotes += 2
    # A key given twice is kept silently by any decoder (the last one wins). With no escapes
    # a quote is always a string's edge, and the documented items hold exactly 10 of them (3
    # keys, state, time) or 12 (an id sent as a string): any key more adds at least 2.
    return intake if body.count(b'"') == quotes else None


def _items(body: bytes, what: str = "statuses") -> list[bytes]:
    """The body's items as raw JSON; BodyError (with the body quarantined) when it is not an
    array (of ``what``, its problem says). msgspec splits a well-formed array quickest; what
    it refuses inside an item (a lone surrogate, nesting deeper than it reads), the scan of
    JSON's grammar splits all the same."""
    try:
        return [bytes(raw) for raw in _decode(body, type=list[msgspec.Raw])]
    except _UNREADABLE:
        pass
    start = len(body) - len(body.lstrip(scan.WHITESPACE))
    if body[start : start + 1] == b"[" and not _utf16_or_32(body):
        split = scan.elements(body, start)
        if split is not None and not body[split[1] :].strip(scan.WHITESPACE):
            return split[0]
    problem = _body_problem(body, what)
    raise BodyError(problem, _quarantined(BODY, body, problem))


def _read_item(raw: bytes, intake: Intake) -> None:
    members = scan.members(raw)
    if members is None:
        intake.quarantine(raw, _not_an_object(raw))
        return
    values: dict[str, list[bytes]] = {}
    for key, value in members:
        with suppress(*_UNREADABLE):  # a key that is not text is none of the contract's
            values.setdefault(_decode(key, type=str), []).append(value)
    ids = _ids(values.get("id_sms", []))
    if isinstance(ids, str):
        intake.quarantine(raw, ids)
        return
    if len(set(ids.values())) > 1:  # which message is it about? none can hold it as its own
        intake.withheld.update(ids.values())
        ambiguous = _given_twice("id_sms", values["id_sms"])
        intake.quarantine(raw, f"{ambiguous}, naming different messages")
        return
    problems = [] if len(values["id_sms"]) == 1 else [_given_twice("id_sms", values["id_sms"])]
    state = _field(values, "state", problems, strings_only=False)
    time = _field(values, "time", problems, strings_only=True)
    text, encoding = _text(raw)
    if encoding is not None and not problems:  # bytes that are not UTF-8 outside those fields
        problems.append("the item holds bytes that are not UTF-8 (kept as base64)")
    plain = (
        not problems
        and values.keys() == set(KEYS)
        and len(members) == 3
        and (all(_is_string(values[k][0]) for k in ("state", "time")))
    )
    [(token, number), *others] = ids.items()
    intake.add(
        token,
        number,
        state,
        time,
        raw=None if plain else text,
        reason="; ".join(problems) or None,
        raw_encoding=encoding,
    )
    for token, number in others:  # the same message, its id written another way too
        intake.tokens.setdefault(token, number)


def _ids(values: list[bytes]) -> dict[int | str, int] | str:
    """The message numbers an item's id_sms values name, by the token as sent; or why it
    names none."""
    if not values:
        return "item has no id_sms"
    named: dict[int | str, int] = {}
    for value in values:
        try:
            token = _decode(value)
        except _UNREADABLE:
            continue
        number = message_number(token)
        if number is not None:
            named.setdefault(token, number)
    if named:
        return named
    return f"id_sms {_listed(values)} is not an integer from 0 to 2^63-1"


def _field(
    values: dict[str, list[bytes]], key: str, problems: list[str], strings_only: bool
) -> str:
    """A field as the text the rules see, noting in ``problems`` what makes the item rejected.

    A string as it is; missing or null, blank; any other JSON value its text (a state never
    known, a time rejected: only a string is a time). Unreadable or given twice: the JSON as
    sent, never a known state or a time, and the item is rejected."""
    given = values.get(key, [])
    if len(given) > 1:
        problems.append(_given_twice(key, given))
        return " | ".join(_shown(v) for v in given)
    if not given:
        return ""
    try:
        value = _decode(given[0])
    except _UNREADABLE as e:
        problems.append(f"{key} {_shorten(_shown(given[0]))} is not readable: {_why(given[0], e)}")
        return _shown(given[0])
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if strings_only:
        problems.append(f"{key} is {_json_type(value)}, not a string")
    return _shown(given[0])


def _given_twice(key: str, given: list[bytes]) -> str:
    return f"the key {key} is given {len(given)} times ({_listed(given)}): ambiguous"


def _listed(values: list[bytes], most: int = 3) -> str:
    """Values to quote in a reason: the first few, shortened (a reason stays short however
    many a hostile item holds)."""
    shown = ", ".join(_shorten(_shown(v)) for v in values[:most])
    return shown if len(values) <= most else f"{shown}, ... ({len(values)} in all)"


def _why(value: bytes, error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "bytes that are not UTF-8"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, msgspec.ValidationError) and "out of range" in str(error):
        return "a number out of range"
    if _SURROGATE.search(value):
        return "a lone surrogate escape (not a character)"
    if _CONTROL.search(value):
        return "a control character, which JSON allows only escaped"
    return _AT_BYTE.sub("", str(error))  # msgspec counts bytes within the value: not helpful


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_CONTROL = re.compile(rb"[\x00-\x1f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x1f]")
_AT_BYTE = re.compile(r" \(byte \d+\)$")


def _is_string(value: bytes) -> bool:
    return value[:1] == b'"'


def _shown(value: bytes) -> str:
    """Raw JSON as text to show: as sent, but bytes that are not UTF-8 and raw control
    characters (which JSON allows only escaped) as \\x escapes."""
    text = value.decode("utf-8", "backslashreplace")
    return (
        _CONTROL_TEXT.sub(lambda c: f"\\x{ord(c.group()):02x}", text)
        if _CONTROL.search(value)
        else text
    )


def _text(raw: bytes) -> tuple[str, str | None]:
    """An item's raw bytes as stored text: itself when UTF-8, else base64 (and the encoding)."""
    try:
        return raw.decode(), None
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"


def _quarantined(kind: str, raw: bytes, reason: str) -> Unusable:
    text, encoding = _text(raw)
    return Unusable(kind, text, reason, encoding=encoding or "utf-8")


def _not_an_object(raw: bytes) -> str:
    if raw[:1] == b"[":  # at whatever depth it goes on
        return "item is an array, not an object"
    try:
        value = _decode(raw)
    except _UNREADABLE as e:
        return f"item is not readable JSON: {_why(raw, e)}"
    return f"item is {_json_type(value)}, not an object"


def _body_problem(body: bytes, what: str = "statuses") -> str:
    if not body.strip():
        return f"the body is empty; expected a JSON array of {what}"
    if _utf16_or_32(body):
        return f"the body is not UTF-8 (UTF-16 or UTF-32?); expected a JSON array of {what}"
    try:
        value = _decode(body)
    except _UNREADABLE as e:
        if body.lstrip()[:1] == b"[":  # an array whose structure is broken (its items are not)
            return f"the body is not valid JSON: {e}"
        return f"the body is not valid JSON: {_why(body, e)}"
    return f"expected a JSON array of {what}, got {_json_type(value)}"


def _utf16_or_32(body: bytes) -> bool:
    """A byte order mark of UTF-16 or UTF-32, or NUL beside the opening bracket: the whole
    body is in another encoding (NUL bytes elsewhere are bytes of an item, judged there)."""
    head = body.lstrip()[:2]
    return body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head or body[:1] == b"\x00"


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
