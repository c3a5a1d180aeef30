"""Reading an XML webhook body (a <response> of <state> elements) element by element, no DTD."""

from __future__ import annotations

import base64
import codecs
import re
from dataclasses import dataclass
from itertools import takewhile
from xml.parsers import expat

from tracker.application import Status, Unusable
from tracker.domain.ids import message_number
from tracker.domain.quarantine import BODY
from tracker.web.intake import UTF8_BOM, BodyError, Intake
from tracker.web.xml_pieces import CUT_TAG, between, spans
from tracker.web.xml_plain import read_plain

CHANNELS = ("sms", "viber")  # the attributes that carry a state per channel (Status.channels)
KNOWN = frozenset(("id_sms", "time", *CHANNELS))
WHITESPACE = " \t\r\n"  # XML's

# The documented element: known attributes, values as they say (no reference), a bare state.
_PLAIN = re.compile(rb'<state(?: (?:id_sms|time|sms|viber)="[^"<&\t\n\r]*")+>[^<&\s]+</state>\Z')
_DECLARED = re.compile(rb"<\?xml\s[^>]{0,200}?\bencoding\s*=\s*[\"']([A-Za-z][\w.-]{0,39})[\"']")
_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"  # a namespace's
_RESPONSE_START = re.compile(rb"<" + _PREFIX + rb"response(?=[\s/>])")
_STATE_END = re.compile(rb"</" + _PREFIX + rb"state\s*>")
_RESPONSE_END = re.compile(rb"</" + _PREFIX + rb"response\s*>")
_START_TAG = re.compile(rb"<[^\s/>]++(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*+\s*/?>")
# An attribute as sent (a value cut by the tag's end too); a quoted value no attribute's: passed.
_ATTRIBUTES = re.compile(
    rb"\s([^\s=<>/\"']+)\s*=\s*(?:\"([^\"]*)(?:\"|\Z)|'([^']*)(?:'|\Z))"
    rb"|\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)"
).findall


def is_xml(body: bytes) -> bool:
    """Whether a body is XML: its first non-blank character is ``<`` (after a byte order mark;
    UTF-16 and UTF-32 too, with one, or UTF-16 without one as XML allows)."""
    body = body.removeprefix(UTF8_BOM)
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) : len(bom) + 400].decode(encoding, "ignore").lstrip()[:1] == "<"
    return body[:2] in (b"<\x00", b"\x00<") or body.lstrip(b" \t\r\n")[:1] == b"<"


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))  # fmt: skip


@dataclass(slots=True)
class Element:
    """One child element of <response>: attributes in order, text, and bytes as sent."""

    raw: bytes
    name: str
    attributes: list[tuple[str, str]]
    text: str  # its own character data; its inner markup as sent when it holds elements
    children: bool = False
    error: str | None = None  # why it is not well-formed XML, read on its own


@dataclass(slots=True)
class Stray:
    """Text or markup between the elements that is no element of <response>."""

    raw: bytes
    reason: str


class Refused(Exception):
    """What no body may hold: a document type declaration, an entity, an external reference."""


def read_body(body: bytes, plain: bool = True) -> Intake:
    """An XML body element by element (the documented form in one pass first, unless not
    ``plain``); BodyError when it is not a <response>, holds a DTD, or cannot be decoded."""
    if plain and (intake := read_plain(body)) is not None:
        return intake
    doc = _utf8(body, body)
    try:
        parts = _parts(body, doc)
    except Refused as e:
        raise _body_error(body, f"the body is refused: {e}") from None
    intake = Intake()
    for part in parts:
        if isinstance(part, Stray):
            intake.quarantine(part.raw, part.reason)
        else:
            _judge(part, intake)
    return intake.finish(b"<response>", b"", b"</response>")


def _parts(body: bytes, doc: bytes) -> list[Element | Stray]:
    """The elements of <response> and the text between them, in order (Refused: a DTD)."""
    reader = _Reader(doc)
    try:
        reader.parse()
    except expat.ExpatError as e:
        return _pieces(body, doc, expat.ErrorString(e.code))
    if _local(reader.root) != "response":
        raise _body_error(body, f"expected a <response> of <state> elements, not <{reader.root}>")
    return reader.parts


def _utf8(sent: bytes, body: bytes) -> bytes:
    """The document as UTF-8, from its byte order mark or the encoding its declaration names
    (any Python knows); blanks before it dropped. BodyError when it cannot be read so."""
    body = body.removeprefix(UTF8_BOM)
    encoding = next((e for bom, e in _BOMS if body.startswith(bom)), None)
    if encoding is not None:  # the codec's name without -le/-be strips the byte order mark
        encoding = encoding[:-3]
    elif body[:2] in (b"<\x00", b"\x00<"):
        encoding = "utf-16-le" if body[:1] == b"<" else "utf-16-be"
    else:
        body = body.lstrip(b" \t\r\n")
        declared = _DECLARED.match(body)
        encoding = declared.group(1).decode() if declared else "utf-8"
    try:
        name = codecs.lookup(encoding).name
        if name == "utf-8":
            return body
        if name in _NOT_CHARSETS:  # Python's codecs of text to text, not a body's charset
            raise LookupError(name)
        text = body.decode(encoding, "surrogateescape").lstrip(WHITESPACE)
        if not text.startswith("<"):
            raise _body_error(sent, f"the body read as {encoding} is not XML")
        return text.encode("utf-8", "surrogateescape")  # bytes it could not read stay as sent
    except LookupError:
        raise _body_error(sent, f"the declared encoding {encoding!r} is not known") from None
    except UnicodeError:  # undecodable, or text that is no UTF-8 (a lone surrogate it decoded)
        raise _body_error(sent, f"the body is not readable as {encoding}") from None


_NOT_CHARSETS = frozenset(("unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"))


def _parser() -> expat.XMLParserType:
    """An expat parser that takes the document as UTF-8 whatever it declares, and refuses a
    DTD as soon as one begins (so no entity is ever declared, expanded or fetched)."""
    parser = expat.ParserCreate("utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # (entities are declared in a DTD only)
    parser.ordered_attributes = True
    parser.buffer_text = True
    return parser


def _refuse(*_: object) -> None:
    raise Refused("it holds a document type declaration (DTD)")


class _Reader:
    """expat's events turned into the elements of <response>, each with its bytes as sent.

    It reads a whole document (``parse``), or pieces fed one after another (``feed``), each
    meant to be one element: offsets are kept relative to the piece in hand."""

    def __init__(self, doc: bytes = b""):
        self.doc = doc
        self.base = 0  # where self.doc begins among the bytes fed
        self.parser = parser = _parser()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        self.root, self.depth, self.parts = "", 0, list[Element | Stray]()
        self._start_at = 0  # of the element at depth 2
        self._after = 0  # where the last element (or the root's start tag) ended
        self._attributes: list[str] = []
        self._texts: list[str] = []
        self._seen = self._children = False  # anything, elements, inside the one at depth 2
        self._stray = False  # non-blank text since self._after

    def parse(self) -> None:  # the whole document
        self.parser.Parse(self.doc, True)

    def feed(self, data: bytes) -> None:
        self.base += len(self.doc)
        self.doc = data
        self.parser.Parse(data, False)

    def _start(self, name: str, attributes: list[str]) -> None:
        self.depth += 1
        if self.depth == 1:
            self.root = name
            tag = _START_TAG.match(self.doc, self.parser.CurrentByteIndex - self.base)
            self._after = tag.end() if tag else 0
        elif self.depth == 2:
            self._between()
            self._start_at = self.parser.CurrentByteIndex  # among all the bytes fed
            self._attributes = attributes
            self._texts, self._seen, self._children = [], False, False
        else:
            self._seen = self._children = True

    def _end(self, name: str) -> None:
        self.depth -= 1
        if self.depth == 1:
            at, doc, start = self.parser.CurrentByteIndex - self.base, self.doc, self._start_at
            start -= self.base
            if start < 0:  # it began in an earlier piece: the piece in hand is not one element
                raise ValueError("it is not one element")
            if self._seen or doc[at - 2 : at] != b"/>":  # not <state .../>: at its end tag
                at = doc.index(b">", at) + 1
            raw, pairs = doc[start:at], self._attributes
            attributes = list(zip(pairs[::2], pairs[1::2], strict=True))
            if self._children:  # its inner markup as sent
                text = raw[_START_TAG.match(raw).end() : raw.rindex(b"<")].decode()  # type: ignore[union-attr]
            else:
                text = "".join(self._texts)
            self.parts.append(Element(raw, name, attributes, text, self._children))
            self._after = at
        elif self.depth == 0:
            self._between()

    def _text(self, text: str) -> None:
        if self.depth == 2:
            self._texts.append(text)
            self._seen = True
        elif self.depth == 1:
            self._stray = self._stray or bool(text.strip(WHITESPACE))

    def _between(self) -> None:
        """Text since the last element: kept as quarantined input unless it is blank."""
        if self._stray:
            raw = self.doc[self._after : self.parser.CurrentByteIndex - self.base]
            self.parts.append(Stray(raw, "text between the <state> elements"))
            self._stray = False


def _pieces(body: bytes, doc: bytes, error: str) -> list[Element | Stray]:
    """A document that is not well-formed, split at its <state> elements, each read on its
    own (what a recovering parser does): one broken element costs only itself. BodyError
    when it does not begin as a <response>."""
    opening = _RESPONSE_START.search(doc)
    if opening is None or not _ignorable(doc[: opening.start()] + b"<r/>", prolog=True):
        raise _body_error(body, f"the body is not well-formed XML ({error}) nor a <response>")
    tag = _START_TAG.match(doc, opening.start()) or CUT_TAG.match(doc, opening.start())
    start = tag.end() if tag else opening.end()  # (its quoted values are no elements)
    note = f"(the body is not well-formed XML: {error})"
    ends = list(_RESPONSE_END.finditer(doc, start))
    end = ends[-1].start() if ends else len(doc)
    parts: list[Element | Stray] = []
    if tag is not None and b"<" in tag.group()[1:]:  # kept: what it hides is no element
        parts.append(Stray(tag.group(), f"the <response> tag holds markup {note}"))
    at, reader, seen = start, _fresh(), dict[bytes, Element]()
    for piece_start, at_end in spans(doc, start, end):
        _stray(doc[at:piece_start], between(doc[at:piece_start], note), parts)
        at = at_end
        piece = doc[piece_start:at]
        element = seen.get(piece)
        if element is None and not piece.endswith(b">"):  # cut short: no need to parse it
            element = seen[piece] = _salvaged(piece, "the element is not closed")
        if element is None:
            element, reader = _read_piece(piece, reader)
            if element.error is not None:  # the same broken bytes again are read once
                seen[piece] = element
        parts.append(element)
    _stray(doc[at:end], between(doc[at:end], note), parts)
    if ends and not _ignorable(b"<r/>" + doc[ends[-1].end() :], prolog=True):
        parts.append(Stray(doc[ends[-1].end() :], "text after the end of the <response>"))
    return parts


def _fresh() -> _Reader:  # a reader of pieces, inside a <response>
    reader = _Reader()
    reader.feed(b"<response>")
    return reader


def _stray(raw: bytes, reason: str, parts: list[Element | Stray]) -> None:  # if not blank
    if raw.strip(b" \t\r\n") and not _ignorable(b"<r>" + raw + b"</r>"):
        parts.append(Stray(raw, reason))


def _ignorable(doc: bytes, prolog: bool = False) -> bool:
    """Whether a document is one element holding nothing but blanks, comments and processing
    instructions (what may stand between, before and after elements). Refused: a DTD."""
    reader = _Reader(doc)
    try:
        reader.parse()
    except (expat.ExpatError, ValueError):
        return False
    except Refused:
        if prolog:
            raise
        return False
    return not reader.parts


def _read_piece(raw: bytes, reader: _Reader) -> tuple[Element, _Reader]:
    """One piece fed to a reader that has read only whole elements so far; when it is not one
    well-formed element, what can be read of it as sent, and a fresh reader for the next."""
    before = len(reader.parts)
    try:
        reader.feed(raw)
        if reader.depth == 1 and len(reader.parts) == before + 1:
            element = reader.parts[-1]
            if isinstance(element, Element):
                return element, reader
        error = "the element is not closed" if reader.depth > 1 else "it is not one element"
    except (expat.ExpatError, Refused, ValueError) as e:
        error = expat.ErrorString(e.code) if isinstance(e, expat.ExpatError) else str(e)
    return _salvaged(raw, error), _fresh()


def _salvaged(raw: bytes, error: str) -> Element:
    """What can be read of an element that is not well-formed: attributes and text as sent."""
    tag = _START_TAG.match(raw) or CUT_TAG.match(raw)  # quoted values whole, whatever else
    head = tag.group() if tag else raw.split(b">", 1)[0]
    attributes = []  # up to a value holding '<' (no XML: where its quote ends is not known)
    for name, value, single in takewhile(lambda f: b"<" not in f[1] + f[2], _ATTRIBUTES(head)):
        if name:  # not a quoted value passed over
            attributes.append((_shown(name), _shown(value if value or not single else single)))
    closing = _STATE_END.search(raw, len(head))
    text = _shown(raw[len(head) : closing.start() if closing else len(raw)])
    name = _shown(head[1:].split(None, 1)[0].rstrip(b"/>")) if len(head) > 1 else ""
    return Element(raw, name, attributes, text, error=error)


def _judge(element: Element, intake: Intake) -> None:
    """One element as a report of its message (rejected, with why), or quarantined."""
    raw, error = element.raw, element.error
    if element.name != "state" and _local(element.name) != "state":
        intake.quarantine(raw, f"element <{_shorten(element.name)}> is not a <state>")
        return
    given: dict[str, list[str]] = {}
    for name, value in element.attributes:
        if name in KNOWN:
            given.setdefault(name, []).append(value)
    ids = given.get("id_sms", [])
    named = {token: n for token in ids if (n := message_number(token)) is not None}
    why = f" (not well-formed XML: {error})" if error else ""
    if not named:
        number = f"id_sms {_listed(ids)} is not an integer from 0 to 2^63-1" if ids else ""
        intake.quarantine(raw, (number or "element has no id_sms attribute") + why)
        return
    if len(set(named.values())) > 1:
        intake.withheld.update(named.values())
        intake.quarantine(raw, f"{_twice('id_sms', ids)}, naming different messages")
        return
    problems = [f"the element is not well-formed XML: {error}"] if error else []
    problems += [_twice(name, given[name]) for name in sorted(given) if len(given[name]) > 1]
    if element.children:
        problems.append("the element holds elements, not only text")
    channels = {name: " | ".join(given[name]) for name in CHANNELS if name in given}
    times = given.get("time")
    plain = not error and times is not None and _PLAIN.match(raw) is not None
    text, encoding = (None, None) if plain else _text(raw)
    token, number = next(iter(named.items()))
    intake.statuses.append(
        Status(
            number,
            element.text if element.children else element.text.strip(WHITESPACE),
            " | ".join(times) if times else "",
            raw=text,
            sent=None if token == str(number) else token,
            reason="; ".join(problems) or None,
            raw_encoding=encoding,
            channels=channels or None,
        )
    )
    for written, same in named.items():  # the same message, its id written other ways too
        intake.tokens.setdefault(written, same)


def _body_error(body: bytes, problem: str) -> BodyError:  # the body kept in quarantine
    text, encoding = _text(body)
    return BodyError(problem, Unusable(BODY, text, problem, encoding=encoding or "utf-8"))


def _text(raw: bytes) -> tuple[str, str | None]:
    """Bytes as stored text: itself when UTF-8, else base64 (and the encoding)."""
    try:
        return raw.decode(), None
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"


def _shown(raw: bytes) -> str:  # bytes of a broken element as sent, not UTF-8 as \\xNN
    return raw.decode("utf-8", "backslashreplace")


def _local(name: str) -> str:  # without its namespace prefix: <w:state> is a <state>
    return name.rpartition(":")[2]


def _twice(name: str, values: list[str]) -> str:
    return f"the attribute {name} is given {len(values)} times ({_listed(values)}): ambiguous"


def _listed(values: list[str], most: int = 3) -> str:
    shown = ", ".join(repr(_shorten(v)) for v in values[:most])
    return shown if len(values) <= most else f"{shown}, ... ({len(values)} in all)"


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
