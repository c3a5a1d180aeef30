"""Where a broken XML body's <state> elements begin and end, in one pass: markup inside
comments, CDATA, declarations, processing instructions and any tag's attributes is no
element, and a <state> nested in another that is closed is its part."""

from __future__ import annotations

import re

# At each '<', what it begins, the first that fits: hidden text (a comment, CDATA, a processing
# instruction, a declaration), or a tag, whole to its '>' with its quoted values (a '<' or '>'
# inside quotes stays inside). A tag cut short by the body's end is one too, even inside a
# quoted value, so long as no '<' follows: a quote never closed before the next tag is no tag,
# and costs no element after it. A '<' that begins none of them is text. The name and the
# attributes are taken possessively (``++``, ``*+``): their characters overlap, and a tag that
# does not end would otherwise be tried every way it can be split (time the square of its
# length, the interpreter held all along).
_TAG = (
    rb"<(?P<end>/?)(?P<name>[^\s/>!?\"'<]++)"
    rb"(?:[^>\"'</]|/(?!>)|\"[^\"]*\"|'[^']*'|\"[^\"<]*\Z|'[^'<]*\Z)*+(?P<empty>/?)(?:>|\Z)"
)
_TOKEN = re.compile(
    rb"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<\?.*?(?:\?>|\Z)|<![^>]*(?:>|\Z)|" + _TAG,
    re.DOTALL,
)
CUT_TAG = re.compile(_TAG)  # a tag as the split takes it: salvaging a broken element reads it
OPEN, EMPTY, END = 0, 1, 2
_OTHER_TAG = re.compile(rb"<([^\s/>!?\"'<]+)")  # an element's start: its name


def _is_state(name: bytes) -> bool:
    return name == b"state" or name.rpartition(b":")[2] == b"state"  # a namespace's prefix


def spans(doc: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """The (begin, end) of each top-level <state> element between ``start`` and ``end``.

    An element runs to its matching end tag, the <state> elements inside it included (they
    are its content, never reports of their own); one never closed runs to where the next
    one begins (one broken element costs only itself). Linear in the body's size."""
    tokens: list[tuple[int, int, int]] = []  # (kind, begin, past) of <state> tags only
    at = start
    while (found := _TOKEN.search(doc, at, end)) is not None:
        at = found.end()
        name = found.group("name")
        if name is not None and _is_state(name):
            kind = END if found.group("end") else EMPTY if found.group("empty") else OPEN
            tokens.append((kind, found.start(), found.end()))
    closes = _matches(tokens)
    next_open = _next_open(tokens)
    found_spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        kind, begin, past = tokens[i]
        if kind == END:  # an end tag of nothing: text between elements
            i += 1
            continue
        if kind == EMPTY:
            stop = past
        elif (close := closes.get(i)) is not None:
            stop = tokens[close][2]
        else:  # never closed: to the next element's start, or an end tag before it
            following = next_open[i + 1] if i + 1 < len(tokens) else None
            limit = tokens[following][1] if following is not None else end
            j = i + 1
            while j < len(tokens) and tokens[j][0] != END and tokens[j][1] < limit:
                j += 1
            stop = tokens[j][2] if j < len(tokens) and tokens[j][1] < limit else limit
        found_spans.append((begin, stop))
        i += 1
        while i < len(tokens) and tokens[i][1] < stop:  # its content: no element of its own
            i += 1
    return found_spans


def _matches(tokens: list[tuple[int, int, int]]) -> dict[int, int]:
    """Each opening tag's closing one, by index, paired as XML nests them (a stack)."""
    open_at: list[int] = []
    closes: dict[int, int] = {}
    for i, (kind, _, _) in enumerate(tokens):
        if kind == OPEN:
            open_at.append(i)
        elif kind == END and open_at:
            closes[open_at.pop()] = i
    return closes


def _next_open(tokens: list[tuple[int, int, int]]) -> list[int | None]:
    """For each index, the first index at or after it that opens an element."""
    following: list[int | None] = [None] * len(tokens)
    nearest = None
    for i in range(len(tokens) - 1, -1, -1):
        if tokens[i][0] != END:
            nearest = i
        following[i] = nearest
    return following


def between(raw: bytes, note: str) -> str:
    """Why what lies between the <state> elements of a broken body is quarantined."""
    tag = _OTHER_TAG.match(raw.lstrip(b" \t\r\n"))
    if tag is not None and _is_state(tag[1]):  # a <state> tag the split could not take
        return f"a <state> tag that does not end {note}"
    if tag is not None:  # another element (the pieces are the <state> ones)
        name = tag[1].decode("utf-8", "backslashreplace")
        return f"element <{name}> is not a <state> {note}"
    return f"text between the <state> elements {note}"
