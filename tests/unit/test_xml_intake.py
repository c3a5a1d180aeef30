"""Reading XML webhook bodies: element by element, channels kept, ids echoed as sent, no DTD."""

from __future__ import annotations

import contextlib
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import sample
from tracker.application import Status
from tracker.domain.quarantine import BODY, ITEM, ITEMS
from tracker.web.intake import BodyError
from tracker.web.xml_intake import is_xml, read_body
from tracker.web.xml_plain import read_plain

T = "2011-01-01 12:57:46"
CONTRACT_EXAMPLE = sample("contract-example.xml")  # §4's example, as the platform wrote it


def test_the_contract_example_is_three_statuses_with_their_channels():
    intake = read_body(CONTRACT_EXAMPLE)
    assert intake.statuses == [
        Status(3234, "deliver", T, channels={"sms": "deliver"}),
        Status(3235, "read", T, channels={"sms": "not_deliver", "viber": "read"}),
        Status(3236, "deliver", T, channels={"viber": "deliver"}),
    ]
    assert intake.unusable == []
    assert intake.acknowledgement(frozenset({3234, 3236})) == [
        {"id_sms": "3234"},
        {"id_sms": "3236"},
    ]


def test_an_id_is_echoed_as_its_attribute_text_and_kept_when_not_plain_digits():
    intake = read_body(b'<response><state id_sms="003234" time="">send</state></response>')
    assert intake.statuses == [Status(3234, "send", "", sent="003234")]
    assert intake.acknowledgement(frozenset({3234})) == [{"id_sms": "003234"}]


def element(xml: str) -> bytes:
    return f'<response>\n  <state id_sms="1" time="{T}">send</state>\n  {xml}\n</response>'.encode()


@pytest.mark.parametrize(
    ("xml", "state", "time_", "reason"),
    [
        # readable: no reason, the raw element kept when it is not the documented form
        (f'<state id_sms="7" time="{T}"><![CDATA[deliver]]></state>', "deliver", T, None),
        (f"<state time='{T}' id_sms='7'>\n  read\n</state>", "read", T, None),
        (f'<state id_sms="7" time="{T}" extra="x">read</state>', "read", T, None),
        (f'<state id_sms="7" time="{T}">de<!-- c -->liver</state>', "deliver", T, None),
        (f'<state id_sms="7" time="{T}">&lt;x&gt;</state>', "<x>", T, None),
        (f'<state id_sms="7" time="{T}"/>', "", T, None),
        ('<state id_sms="7">read</state>', "read", "", None),
        (f'<w:state xmlns:w="urn:w" id_sms="7" time="{T}">read</w:state>', "read", T, None),
        # rejected at receipt: the element is in its message's history, with the reason
        (f'<state id_sms="7" time="{T}"><b>read</b></state>', "<b>read</b>", T, "holds elements"),
        (f'<state id_sms="7" time="{T}">&#xD800;</state>', "&#xD800;", T, "invalid character"),
        (f'<state id_sms="7" time="{T}">read&#0;</state>', "read&#0;", T, "invalid character"),
        (f'<state id_sms="7" time="{T}">&nbsp;</state>', "&nbsp;", T, "undefined entity"),
        (f'<state id_sms="7" time="{T}">a & b</state>', "a & b", T, "not well-formed"),
        (f'<state id_sms="7" id_sms="7" time="{T}">read</state>', "read", T, "id_sms is given 2"),
        ('<state id_sms="7" time="a" time="b">read</state>', "read", "a | b", "time is given 2"),
        (f'<state id_sms="7" time="{T}">read</stat>', "read</stat>", T, "not closed"),
    ],
)
def test_each_element_is_judged_on_its_own(xml, state, time_, reason):
    body = element(xml)
    intake = read_body(body)
    first, judged = intake.statuses
    assert first == Status(1, "send", T)  # its neighbour costs it nothing
    assert (judged.id_sms, judged.state, judged.time) == (7, state, time_)
    assert judged.reason is None if reason is None else reason in judged.reason
    assert judged.raw is not None and body.decode().find(judged.raw) > 0  # its bytes as sent
    assert intake.unusable == []
    assert intake.acknowledgement(frozenset({1, 7})) == [{"id_sms": "1"}, {"id_sms": "7"}]


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (f'<state time="{T}">read</state>', "element has no id_sms attribute"),
        ('<state id_sms="x1">read</state>', "id_sms 'x1' is not an integer from 0 to 2^63-1"),
        ('<state id_sms=" 7">read</state>', "id_sms ' 7' is not an integer"),
        ('<state id_sms="-7">read</state>', "id_sms '-7' is not an integer"),
        ('<state id_sms="99999999999999999999">read</state>', "is not an integer"),
        ('<status id_sms="7">read</status>', "element <status> is not a <state>"),
        ('<state id_sms="x" time="">&#0;</state>', "(not well-formed XML: reference to invalid"),
        (
            '<state id_sms="7" id_sms="8">read</state>',
            "given 2 times ('7', '8'): ambiguous, naming",
        ),
    ],
)
def test_an_element_naming_no_message_is_quarantined_with_its_bytes(xml, reason):
    intake = read_body(element(xml))
    assert [s.id_sms for s in intake.statuses] == [1]
    [held] = intake.unusable
    assert (held.kind, held.raw) == (ITEM, xml)
    assert reason in held.reason
    assert intake.acknowledgement(frozenset({1, 7, 8})) == [{"id_sms": "1"}]


@pytest.mark.parametrize(
    "cut",
    ['<state id_sms="7" time="2024-05-01 1', '<state id_sms="7" time', '<state id_sms="7" /'],
)
def test_a_body_cut_inside_its_last_tag_keeps_that_element_as_rejected(cut):
    body = f'<response><state id_sms="1" time="{T}">send</state>{cut}'.encode()
    intake = read_body(body)
    first, judged = intake.statuses
    assert first == Status(1, "send", T)
    assert (judged.id_sms, judged.raw) == (7, cut)
    assert judged.reason is not None and "not closed" in judged.reason
    assert intake.unusable == []


def test_a_cut_tags_last_value_is_kept_as_sent():
    body = f'<response><state id_sms="1" time="{T}">send</state><state id_sms="7" time="2024-0'
    [_, cut] = read_body(body.encode()).statuses
    assert (cut.id_sms, cut.time) == (7, "2024-0")


@pytest.mark.parametrize(
    "hidden",
    [
        '<state note=\'x id_sms="7"',  # cut inside another attribute's value
        '<state note=\'x id_sms="7">ok</state></response>',  # a quote never closed
        "<state =\" id_sms='7'\">ok</state></response>",  # a value with no name
    ],
)
def test_an_id_inside_a_quoted_value_names_no_message_even_in_a_broken_tag(hidden):
    body = f'<response><state id_sms="1" time="{T}">send</state>{hidden}'.encode()
    intake = read_body(body)
    assert 7 not in {s.id_sms for s in intake.statuses}
    assert intake.acknowledgement(frozenset({1, 7})) == [{"id_sms": "1"}]


@pytest.mark.parametrize(
    "body",
    [
        b'<response x=\'<state id_sms="9" time="t">deliver</state>\' y>',  # <response> broken
        b'<response x="a"y=\'<state id_sms="9">deliver</state>\'>',
        # a quote left open pairs with the next one: values shift, and one holds a '<'
        b'<response><state x="oops>read</state><state id_sms="1" note=" id_sms=\'9\' " y=">">',
        b'<response><state id_sms="1" x="a>read</state><state note=" id_sms=\'9\' ',
    ],
)
def test_no_id_is_read_past_a_quoted_value_that_holds_markup(body):
    intake = read_body(body + b'<state id_sms="2">deliver</state></response>')
    assert 9 not in {s.id_sms for s in intake.statuses}
    assert 9 not in intake.tokens.values()


def test_a_response_tag_that_hides_markup_is_kept_in_the_quarantine():
    tag = b'<response a="<state id_sms="1">read</state>"x>'
    body = tag + b'<state id_sms="2">read</state></response>'
    intake = read_body(body)
    assert [s.id_sms for s in intake.statuses] == [2]
    [held] = intake.unusable
    assert held.raw == tag.decode()
    assert held.reason.startswith("the <response> tag holds markup")


def test_a_quote_never_closed_costs_only_its_element_not_those_after_it():
    good = f'<state id_sms="2" time="{T}">read</state><state id_sms="3" time="{T}">read</state>'
    for broken in ('<state id_sms="1" note=it\'s>ok</state>', '<x a="b>'):
        intake = read_body(f"<response>{broken}{good}</response>".encode())
        assert [(s.id_sms, s.reason) for s in intake.statuses] == [(2, None), (3, None)]
        [held] = intake.unusable
        assert held.raw == broken


@pytest.mark.parametrize(
    "shape",
    [
        lambda n: b'<response><state"' + b"a" * n,  # a tag cut in a value
        lambda n: b'<response><state"' + b"a" * n + b' x">ok</state></response>',
        lambda n: b"<response><state'" + b"a" * n + b"</response>",
        lambda n: b"<response><state" + b'"a' * (n // 2) + b"</response>",
        lambda n: b"<response><state" + b"a" * n + b"<x/></response>",  # a tag that never ends
        lambda n: b" " * n + b"<x",  # blanks before what is not a <response>
        lambda n: b"\n" * n + b'<response><state id_sms="5">deliver</state></response>',
    ],
    ids=[
        "cut-in-a-value",
        "a-value-closed-late",
        "single-quote",
        "many-quotes",
        "never-ends",
        "blanks-then-no-response",
        "blanks-then-a-body",
    ],
)
def test_one_long_tag_that_cannot_be_read_is_read_in_time_linear_in_its_length(shape):
    def seconds(size: int) -> float:
        started = time.perf_counter()
        with contextlib.suppress(BodyError):  # refused whole: as long to say so
            read_body(shape(size))
        return time.perf_counter() - started

    small, large = seconds(8 * 1024), seconds(64 * 1024)  # its square: over a minute
    assert large < 30 * small + 0.5


def test_another_element_in_a_broken_body_is_quarantined_as_one_not_as_text():
    other = '<status id_sms="5012">read</status>'
    body = f'<response><state id_sms="1">&nbsp;</state>{other}<state id_sms="2"/>'.encode()
    intake = read_body(body)
    assert [s.id_sms for s in intake.statuses] == [1, 2]
    [held] = intake.unusable
    assert held.raw == other
    assert held.reason.startswith("element <status> is not a <state> (the body is not well-formed")


def test_text_between_elements_and_after_the_document_is_quarantined():
    body = f'<response> words <state id_sms="5" time="{T}">read</state></response> tail'.encode()
    intake = read_body(body)
    assert [s.id_sms for s in intake.statuses] == [5]
    words, tail = intake.unusable
    assert (words.raw, words.reason) == (
        " words ",
        (
            "text between the <state> elements (the body is not well-formed XML: junk after "
            "document element)"
        ),
    )
    assert (tail.raw, tail.reason) == (" tail", "text after the end of the <response>")
    well_formed = read_body(body.removesuffix(b" tail"))
    assert [(u.raw, u.reason) for u in well_formed.unusable] == [
        (" words ", "text between the <state> elements")
    ]


def test_channels_are_the_sms_and_viber_attributes_only_others_stay_in_raw():
    body = b'<response><state id_sms="9" time="" sms="read" whatsapp="x">read</state></response>'
    [status] = read_body(body).statuses
    assert status.channels == {"sms": "read"}
    assert status.raw == '<state id_sms="9" time="" sms="read" whatsapp="x">read</state>'
    assert status.reason is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html><body/></html>", "expected a <response> of <state> elements, not <html>"),
        (b"<html><state id_sms='1'>read</state>", "not well-formed XML"),
        (b"<", "not well-formed XML"),
        (b"  <?xml version='1.0'?> <!-- only a comment -->", "not well-formed XML"),
        (b'<?xml version="1.0" encoding="x-nothing"?><response/>', "'x-nothing' is not known"),
        (b'<?xml version="1.0" encoding="base64"?><response/>', "'base64' is not known"),
        (b'<?xml version="1.0" encoding="utf-16"?><response/>', "utf-16"),
        (b"\xff\xfe<\x00r", "not readable as utf-16"),
    ],
)
def test_a_body_that_is_not_a_response_is_refused_whole_and_kept(body, problem):
    with pytest.raises(BodyError) as refused:
        read_body(body)
    assert problem in refused.value.problem
    assert refused.value.quarantine.kind == BODY


HOSTILE_DTDS = [
    "billion-laughs.xml",
    "external-entity.xml",
    "parameter-entity.xml",
    "external-dtd.xml",
]


@pytest.mark.parametrize("name", HOSTILE_DTDS)
def test_a_dtd_is_refused_at_once_and_nothing_is_opened_or_fetched(name):
    body = sample(f"hostile_xml/{name}")
    touched: list[tuple[str, tuple]] = []
    watching = [True]

    def audit(event: str, args: tuple) -> None:
        if watching[0] and event.split(".")[0] in ("open", "socket", "urllib", "os", "subprocess"):
            touched.append((event, args))

    sys.addaudithook(audit)  # a hook cannot be removed: it stops watching instead
    started = time.perf_counter()
    try:
        with pytest.raises(BodyError) as refused:
            read_body(body)
    finally:
        watching[0] = False
    assert time.perf_counter() - started < 0.1
    assert touched == []
    assert "document type declaration" in refused.value.problem
    assert refused.value.quarantine.raw == body.decode()  # the body kept exactly


@pytest.mark.parametrize(
    "encoded",
    [
        lambda text: text.encode("utf-16"),  # with its byte order mark
        lambda text: text.encode("utf-16-le"),  # without one: '<' then NUL
        lambda text: text.encode("utf-16-be"),
        lambda text: text.encode("utf-32"),
        lambda text: b"\xef\xbb\xbf" + text.encode(),
        lambda text: text.replace("utf-8", "windows-1251").encode("cp1251"),
        lambda text: text.replace("utf-8", "koi8-r").encode("koi8-r"),
        lambda text: ("\n\t " + text).encode(),  # blanks before the declaration
    ],
)
def test_other_encodings_are_read_as_their_declaration_or_byte_order_mark_says(encoded):
    text = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<response><state id_sms="4" time="{T}">доставлено</state></response>'
    )
    body = encoded(text)
    assert is_xml(body)
    [status] = read_body(body).statuses
    assert (status.id_sms, status.state, status.time) == (4, "доставлено", T)


def test_what_is_xml():
    assert is_xml(b"<response/>") and is_xml(b" \r\n\t<x") and is_xml(b"\xef\xbb\xbf<x")
    assert is_xml("<x".encode("utf-16")) and is_xml("\n<x".encode("utf-32"))
    assert not is_xml(b"[]") and not is_xml(b"") and not is_xml(b'{"<": 1}')
    assert not is_xml(b"\xef\xbb\xbf[<x]") and not is_xml("[".encode("utf-16"))


def timed(body: bytes):
    started = time.perf_counter()
    intake = read_body(body)
    return intake, time.perf_counter() - started


def test_80000_repeats_of_one_id_are_80000_statuses_of_one_message_acknowledged_once():
    one = f'<state id_sms="77" time="{T}">deliver</state>'.encode()
    intake, took = timed(b"<response>" + one * 80_000 + b"</response>")
    assert len(intake.statuses) == 80_000 and {s.id_sms for s in intake.statuses} == {77}
    assert intake.acknowledgement(frozenset({77})) == [{"id_sms": "77"}]
    assert took < 10
    broken, took = timed(b"<response>" + one * 80_000)  # the end missing: read piece by piece
    assert len(broken.statuses) == 80_000 and broken.unusable == []
    assert took < 15


def test_deep_nesting_many_attributes_and_huge_text_cost_only_their_element():
    deep = b'<state id_sms="71">' + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</state>"
    many = (
        b'<state id_sms="72"' + b"".join(b' a%d="x"' % i for i in range(100_000)) + b">read</state>"
    )
    huge = b'<state id_sms="73">' + b"x" * 2_000_000 + b"</state>"
    good = f'<state id_sms="74" time="{T}">read</state>'.encode()
    for body in (
        b"<response>" + deep + many + huge + good + b"</response>",
        b"<response>" + deep[:-30] + many + huge + good + b"</response>",  # deep, never closed
    ):
        intake, took = timed(body)
        assert took < 10
        by_id = {s.id_sms: s for s in intake.statuses}
        assert set(by_id) == {71, 72, 73, 74}
        assert by_id[71].reason is not None and by_id[72].reason is None
        assert len(by_id[73].state) == 2_000_000 and by_id[74] == Status(74, "read", T)


def test_past_a_thousand_quarantined_elements_the_rest_are_kept_together_as_xml():
    body = b"<response>" + b"".join(b"<x n='%d'/>" % i for i in range(1_500)) + b"</response>"
    intake = read_body(body)
    assert len(intake.unusable) == 1_001
    rest = intake.unusable[-1]
    assert rest.kind == ITEMS and rest.reason == "500 more items in this body name no message"
    assert rest.raw.startswith("<response><x n='1000'/>") and rest.raw.endswith("</response>")


# Elements as a hostile sender writes them: each good one names its own message.
GOOD = st.sampled_from(["send", "deliver", "read", "not_deliver", "expired", "partly_deliver"])
BAD_WITH_ID = [  # each names message {n}: rejected at receipt, kept in its history
    '<state id_sms="{n}" time="">&#0;</state>',
    '<state id_sms="{n}" time="">&bogus;</state>',
    '<state id_sms="{n}" id_sms="{n}">read</state>',
    '<state id_sms="{n}" time="x"><b>read</b></state>',
    '<state id_sms="{n}" time="">a < b</state>',
    '<state id_sms="{n}" time="">never closed',
]
BAD_WITHOUT_ID = [  # names no message: quarantined
    '<state time="">read</state>',
    '<state id_sms="n{n}">read</state>',
    "<other id_sms='{n}'/>",
    "stray text {n}",
    "&amp; {n} & <",
    "</other>",
    "<![CDATA[{n}]]>",
]
pieces = st.one_of(
    st.tuples(st.just("good"), GOOD),
    st.tuples(st.just("rejected"), st.sampled_from(BAD_WITH_ID)),
    st.tuples(st.just("quarantined"), st.sampled_from(BAD_WITHOUT_ID)),
    st.tuples(st.just("ignored"), st.sampled_from(["<!-- c -->", "<?pi x?>", "\n"])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pieces, max_size=12), st.booleans())
def test_any_mix_acknowledges_every_good_element_and_keeps_every_bad_one(mix, broken_end):
    written: list[tuple[str, int, str]] = []
    for n, (kind, what) in enumerate(mix, start=100):
        text = f'<state id_sms="{n}" time="{T}">{what}</state>' if kind == "good" else what
        written.append((kind, n, text.replace("{n}", str(n))))
    body = ("<response>" + "".join(t for _, _, t in written)).encode()
    body += b"" if broken_end else b"</response>"
    intake = read_body(body)
    acknowledged = {a["id_sms"] for a in intake.acknowledgement(frozenset(range(100, 200)))}
    kept = [s.raw or "" for s in intake.statuses] + [u.raw for u in intake.unusable]
    for kind, n, text in written:
        if kind == "good":
            assert str(n) in acknowledged
            state = text.split(">")[1].split("<")[0]
            assert Status(n, state, T) in intake.statuses
        elif kind == "rejected":
            assert str(n) in acknowledged
            [status] = [s for s in intake.statuses if s.id_sms == n]
            assert status.reason and status.raw and status.raw.startswith(text)
        elif kind == "quarantined":
            assert str(n) not in acknowledged
            assert any(text in raw for raw in kept), text
    assert acknowledged <= {str(n) for _, n, _ in written}


plain_elements = st.lists(
    st.tuples(
        st.from_regex(r"[0-9]{1,19}", fullmatch=True),
        st.from_regex(r"[0-9 :.-]{0,12}", fullmatch=True),
        st.none() | st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
        st.none() | st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
        st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
        st.sampled_from(["", " ", "\n  ", "\r\n\t"]),
    ),
    max_size=8,
)


@given(plain_elements, st.sampled_from(["", '<?xml version="1.0" encoding="utf-8" ?>\n']))
def test_the_documented_form_read_in_one_pass_is_what_the_element_reader_reads(elements, head):
    """xml_plain reads the documented body with a pattern; the element reader must agree on
    every status and every id echoed (ids past 2^63-1 leave it to the element reader)."""
    inner = "".join(
        f'{gap}<state id_sms="{i}" time="{t}"'
        + (f' sms="{sms}"' if sms else "")
        + (f' viber="{viber}"' if viber else "")
        + f">{state}</state>"
        for i, t, sms, viber, state, gap in elements
    )
    body = f"{head}<response>{inner}\n</response>".encode()
    fast, full = read_plain(body), read_body(body, plain=False)
    if any(int(i) >= 2**63 for i, *_ in elements):
        assert fast is None
        return
    assert fast is not None
    assert (fast.statuses, fast.tokens, fast.unusable) == (full.statuses, full.tokens, [])
    assert not full.unusable


@pytest.mark.parametrize(
    "body",
    [
        b'<response><state id_sms="1" time="x">read</state></response>',  # a time of letters
        b'<response><state time="" id_sms="1">read</state></response>',  # attributes reordered
        b'<response><state id_sms="1" time="">read</state><!-- c --></response>',
        b'<response><state id_sms="1" time="">re&#97;d</state></response>',
        b'<response><state id_sms="1" time="" sms="deliver">READ</state></response>',
        b'<response><state id_sms="\xd9\xa3" time="">read</state></response>',
        b'<?xml version="1.0" encoding="windows-1251"?><response></response>',
        b"<?xml version=\"1.0'?><response></response>",  # quotes that are no pair
        b"<?xml version='1.0' encoding=\"utf-8'?><response></response>",
    ],
)
def test_anything_but_the_documented_form_is_left_to_the_element_reader(body):
    assert read_plain(body) is None


BROKEN_ELSEWHERE = b'<state id_sms="599" time="">&</state>'  # makes the body not well-formed


@pytest.mark.parametrize(
    ("hiding", "hidden"),
    [
        (b'<state id_sms="501" time=""><![CDATA[<state id_sms="502" time="">deliver</state>]]>'
         b"</state>", 502),
        (b'<!-- <state id_sms="503" time="">deliver</state> -->', 503),
        (b'<state id_sms="504" time=""><state id_sms="505" time="">deliver</state></state>', 505),
        (b'<state id_sms="506" time="<state id_sms=\'507\'>deliver</state>">send</state>', 507),
        (b'<?pi <state id_sms="508" time="">deliver</state> ?>', 508),
    ],
)  # fmt: skip
def test_markup_in_comments_cdata_tags_and_other_elements_is_never_a_report(hiding, hidden):
    """Well-formed or not, what a comment, a CDATA section, an attribute's value or another
    element holds is never read as a report of the message it names."""
    for body in (
        b"<response>" + hiding + b"</response>",
        b"<response>" + hiding + BROKEN_ELSEWHERE + b"</response>",
    ):
        intake = read_body(body)
        assert hidden not in {s.id_sms for s in intake.statuses}, body
        assert hidden not in intake.tokens.values(), body


def test_an_element_never_closed_costs_only_itself_when_the_body_is_broken():
    body = (
        b'<response><state id_sms="510" time="">deliver'
        b'<state id_sms="511" time="">read</state>'
        b'<state id_sms="512" time="">send</state></response>'
    )
    statuses = {s.id_sms: s for s in read_body(body).statuses}
    assert statuses[511].reason is None and statuses[511].state == "read"
    assert statuses[512].reason is None and statuses[510].reason is not None


@pytest.mark.parametrize(
    ("encoding", "extra"),
    [("idna", b""), ("punycode", b""), ("undefined", b""), ("unicode_escape", b"\\ud800"),
     ("raw_unicode_escape", b"\\ud800"), ("base64", b""), ("rot13", b"")],
)  # fmt: skip
def test_a_declared_encoding_that_is_no_charset_refuses_the_body_whole(encoding, extra):
    body = (
        b'<?xml version="1.0" encoding="' + encoding.encode() + b'"?><response>'
        b'<state id_sms="61" time="">send' + extra + b"</state></response>"
    )
    with pytest.raises(BodyError) as refused:
        read_body(body)
    assert "encoding" in refused.value.problem or "not readable" in refused.value.problem


@pytest.mark.parametrize(
    ("body", "hidden", "kept"),
    [
        (b'<response><foo a=\'<state id_sms="521" time="">deliver</state>\'/>&</response>', 521,
         set()),
        (b'<response><foo>x</foo a="<state id_sms=\'522\' time=\'\'>deliver</state>">&</response>',
         522, set()),
        (b'<response><!DOCTYPE x [<!ENTITY e "<state id_sms=\'523\' time=\'\'>deliver</state>">]>'
         b"&e;</response>", 523, set()),
        (b'<response><foo a="<!--"/><state id_sms="524" time="">deliver</state>&</response>', 0,
         {524}),
        (b'<response><state id_sms="525" bad note="<state id_sms=\'526\' time=\'\'>deliver</state>'
         b'">deliver</state></response>', 526, {525}),
    ],
)  # fmt: skip
def test_no_attribute_or_declaration_of_any_element_is_read_as_an_element(body, hidden, kept):
    intake = read_body(body)
    named = {s.id_sms for s in intake.statuses}
    assert hidden not in named and hidden not in intake.tokens.values()
    assert kept <= named and kept <= set(intake.tokens.values())  # acknowledged, not withheld
    assert not kept & intake.withheld


@pytest.mark.parametrize(
    "unit", [b"<state>", b'<state a="', b"<state><state></state>", b'<state id_sms="1">']
)
def test_a_broken_body_of_many_pieces_is_read_in_time_linear_in_its_size(unit):
    def seconds(size: int) -> float:
        body = b"<response>" + unit * (size // len(unit)) + b"</response>"
        started = time.perf_counter()
        read_body(body)
        return time.perf_counter() - started

    small, large = seconds(64 * 1024), seconds(512 * 1024)
    assert large < 30 * small + 0.5  # 8 times the size: far from 64 times the time
