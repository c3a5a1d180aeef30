"""JSON's grammar scanned, no value read: an array's items, an object's members (no I/O)."""

from __future__ import annotations

import re

# JSON's tokens, whitespace before each: a string (any bytes inside, and escapes of JSON's
# form: what they spell, a lone surrogate say, is a value's business), a number (any size), a
# literal, a punctuation mark.
_STRING_TEXT = rb'"[^"\\]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\]*)*"'
_TOKEN = re.compile(
    rb"[ \t\r\n]*(?:"
    rb"(?P<string>" + _STRING_TEXT + rb")"
    rb"|(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    rb"|(?P<literal>true|false|null)"
    rb"|(?P<mark>[\[\]{},:]))",
    re.DOTALL,
)
_STRING = re.compile(_STRING_TEXT, re.DOTALL)
WHITESPACE = b" \t\r\n"
_OPEN, _CLOSE = b"[{", {ord("]"): ord("["), ord("}"): ord("{")}
# What may come next: a value; a value or "]" (an array just opened); a key or "}" (an object
# just opened); a key; a colon; a comma or the container's close.
_VALUE, _VALUE_OR_CLOSE, _KEY_OR_CLOSE, _KEY, _COLON, _NEXT = range(6)
_STARTS = {ord("["): (_VALUE, _VALUE_OR_CLOSE), ord("{"): (_KEY, _KEY_OR_CLOSE)}


def elements(text: bytes, start: int) -> tuple[list[bytes], int] | None:
    """The elements of the array or object that opens at ``text[start]`` (an object's are its
    members, ``"key": value``), and the index just past its close; None when it is not
    JSON's grammar. Values are not read: a string may hold any bytes and escapes, a number
    any digits, so a value no reader takes (a lone surrogate, a number out of range) costs
    its own item only, while text that is not JSON (a stray quote, a missing comma, NaN)
    never passes, so no item's text can end up in another. Iterative: any depth costs only
    the bytes it spans."""
    match = _TOKEN.match
    open_brackets = bytearray()
    elements: list[bytes] = []
    expect, pos, begin = _VALUE, start, start
    while True:
        token = match(text, pos)
        if token is None:
            return None
        kind, at, pos = token.lastgroup, token.start(token.lastgroup), token.end()
        if len(open_brackets) == 1 and expect in _STARTS[open_brackets[0]]:
            begin = at  # an element of the outer container begins: a value, or a member
        if expect == _COLON:
            if text[at] != 0x3A:  # ":"
                return None
            expect = _VALUE
            continue
        if kind == "mark":
            byte = text[at]
            if byte in _OPEN and expect in (_VALUE, _VALUE_OR_CLOSE):
                open_brackets.append(byte)
                expect = _VALUE_OR_CLOSE if byte == 0x5B else _KEY_OR_CLOSE
                continue
            if byte == 0x2C and expect == _NEXT:  # ","
                expect = _VALUE if open_brackets[-1] == 0x5B else _KEY
                if len(open_brackets) == 1:
                    elements.append(text[begin:at].rstrip(WHITESPACE))
                continue
            closes = _CLOSE.get(byte)
            if closes is None or not open_brackets or open_brackets[-1] != closes:
                return None
            if expect not in (_NEXT, _VALUE_OR_CLOSE, _KEY_OR_CLOSE):
                return None  # a close after a comma or a colon
            if expect == _NEXT and len(open_brackets) == 1:
                elements.append(text[begin:at].rstrip(WHITESPACE))
            open_brackets.pop()
            if not open_brackets:
                return elements, pos
            expect = _NEXT  # the container was a value
            continue
        if expect in (_KEY, _KEY_OR_CLOSE):
            if kind != "string":
                return None
            expect = _COLON
            continue
        if expect not in (_VALUE, _VALUE_OR_CLOSE):
            return None  # two values in a row
        expect = _NEXT


def members(item: bytes) -> list[tuple[bytes, bytes]] | None:
    """An object's members as (key as JSON, value as JSON), in order, keys given twice kept;
    None when the item is not an object in JSON's grammar."""
    if item[:1] != b"{":
        return None
    split = elements(item, 0)
    if split is None or split[1] != len(item):
        return None
    members = []
    for member in split[0]:  # the grammar holds: a string, a colon, a value
        key = _STRING.match(member)
        members.append((key.group(), member[key.end() :].lstrip(WHITESPACE)[1:].strip(WHITESPACE)))  # type: ignore[union-attr]
    return members
