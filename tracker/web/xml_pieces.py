"""Where a broken XML body's <state> elements begin and end: markup inside comments, CDATA,
processing instructions and tags is no element, and a <state> nested in another is its part."""

from __future__ import annotations

import re

_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"  # a namespace's
_TOKENS = re.compile(
    rb"(?P<hidden><!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<\?.*?(?:\?>|\Z))"
    rb"|(?P<end></" + _PREFIX + rb"state\s*>)"
    rb"|(?P<start><" + _PREFIX + rb"state(?=[\s/>]))",
    re.DOTALL,
)
# A start tag whole, its attribute values quoted (a '<' or '>' inside quotes stays inside)
_START_TAG = re.compile(rb"<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*/?>")
OPEN, EMPTY, END = 0, 1, 2


def spans(doc: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """The (begin, end) of each top-level <state> element between ``start`` and ``end``.

    An element runs to its matching end tag, the <state> elements inside it included (they
    are its content, never reports of their own); one never closed runs to where the next
    one begins (one broken element costs only itself)."""
    tokens: list[tuple[int, int, int]] = []  # (kind, at, past)
    at = start
    while (found := _TOKENS.search(doc, at, end)) is not None:
        at = found.end()
        if found.lastgroup == "end":
            tokens.append((END, found.start(), found.end()))
        elif found.lastgroup == "start":
            tag = _START_TAG.match(doc, found.start(), end)
            if tag is None:  # not even its tag is whole: it runs to what comes next
                tokens.append((OPEN, found.start(), found.end()))
                continue
            at = tag.end()  # what its attribute values hold is no markup
            empty = tag.group().endswith(b"/>")
            tokens.append((EMPTY if empty else OPEN, found.start(), tag.end()))
    found_spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        kind, begin, past = tokens[i]
        if kind == END:  # an end tag of nothing: text between elements
            i += 1
            continue
        if kind == EMPTY:
            found_spans.append((begin, past))
            i += 1
            continue
        close = _matching(tokens, i)
        if close is not None:
            found_spans.append((begin, tokens[close][2]))
            i = close + 1
            continue
        following = next((t[1] for t in tokens[i + 1 :] if t[0] != END), end)
        closing = next((t for t in tokens[i + 1 :] if t[0] == END and t[1] < following), None)
        found_spans.append((begin, closing[2] if closing else following))
        i += 1
        while i < len(tokens) and tokens[i][1] < found_spans[-1][1]:
            i += 1
    return found_spans


def _matching(tokens: list[tuple[int, int, int]], i: int) -> int | None:
    """The index of the end tag that closes the element opened at ``tokens[i]``, counting the
    <state> elements opened inside it; None when it is never closed."""
    depth = 0
    for j in range(i, len(tokens)):
        kind = tokens[j][0]
        if kind == OPEN:
            depth += 1
        elif kind == END:
            depth -= 1
            if depth == 0:
                return j
    return None
