"""The XML webhook's documented body exactly, read in one pass of a pattern (quick; no I/O).

The platform's XML body is a ``<response>`` of ``<state id_sms=".." time=".." [sms=".."]
[viber=".."]>state</state>`` elements. When a body is that and nothing else, in plain ASCII
with no reference, comment or declaration beyond ``<?xml ...?>``, it is well-formed XML whose
every value is the text between its quotes, and a pattern reads it whole: no parser, no Python
per character. Any other body (``None`` here) is read element by element by ``xml_intake``,
which gives the same statuses for a body this reads (a property test holds them equal).
"""

from __future__ import annotations

import re

from tracker.application import Status
from tracker.domain.ids import MAX_ID_SMS
from tracker.web.intake import UTF8_BOM, Intake

_WORD = r"[a-z_]{1,32}"  # a state or a channel's status, as the platform writes them
_ELEMENT = (
    r'<state id_sms="([0-9]{1,19})" time="([0-9 :.-]{0,32})"'
    r'(?: sms="(' + _WORD + r')")?(?: viber="(' + _WORD + r')")?>(' + _WORD + r")</state>"
)
_DECLARATION = (  # each value between a pair of the same quotes
    r"""<\?xml version=(?:"1\.[0-9]"|'1\.[0-9]')"""
    r"""(?: encoding=(?:"(?:utf|UTF)-8"|'(?:utf|UTF)-8'))? ?\?>"""
)
# Each run of blanks is taken possessively: two runs side by side (before and after the
# declaration) would otherwise be split every way a body that does not match allows (a body
# of 64 KiB of blanks took 4 s, 512 KiB over four minutes, the interpreter held all along).
_BODY = re.compile(
    (
        r"[ \t\r\n]*+(?:" + _DECLARATION + r")?[ \t\r\n]*+<response>"
        r"((?:[ \t\r\n]*+" + _ELEMENT + r")*+)[ \t\r\n]*+</response>[ \t\r\n]*+\Z"
    ).encode()
)
_ELEMENTS = re.compile(_ELEMENT)  # over text


def read_plain(body: bytes) -> Intake | None:
    """The body when it is the documented form exactly; None otherwise."""
    whole = _BODY.match(body.removeprefix(UTF8_BOM))
    if whole is None:
        return None
    intake = Intake()
    statuses, tokens = intake.statuses, intake.tokens
    # The pattern let only ASCII through: the elements are read as text, every value a string.
    for token, time, sms, viber, state in _ELEMENTS.findall(whole.group(1).decode("ascii")):
        number = int(token)
        if number > MAX_ID_SMS:  # the element reader says why
            return None
        channels = None
        if sms or viber:
            channels = {"sms": sms} if sms else {}
            if viber:
                channels["viber"] = viber
        sent = None if token[0] != "0" or token == "0" else token  # "03234": shown as sent
        # Status's fields in order: id_sms, state, time, raw, sent, reason, encoding, channels
        statuses.append(Status(number, state, time, None, sent, None, None, channels))
        if token not in tokens:
            tokens[token] = number
    return intake
