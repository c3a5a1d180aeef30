"""The XML webhook over real HTTP: stored, then acknowledged in XML; hostile XML bodies get a
clear 4xx or a partial acknowledgement, never a 5xx, and every id acknowledged is stored."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_health_and_views import growth, scrape
from tests.e2e.test_webhook import quarantined
from tests.support import SAMPLES, sample
from tracker.domain.ids import message_number
from tracker.domain.quarantine import BODY
from tracker.read.export import report_rows

XML = {"Content-Type": "text/xml; charset=utf-8"}
T = "2011-01-01 12:57:46"
CONTRACT_EXAMPLE = sample("contract-example.xml")  # §4's example, as the platform wrote it
ANSWER = re.compile(
    rb'<\?xml version="1\.0" encoding="utf-8" \?><response>((?:<id_sms>[0-9]+</id_sms>)*)'
    rb"</response>\Z"
)


def acknowledged(response) -> list[str]:
    """The ids of an XML answer, which must be exactly the documented form."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    answer = ANSWER.match(response.content)
    assert answer, response.content[:300]
    return re.findall(r"<id_sms>([0-9]+)</id_sms>", answer.group(1).decode())


def test_the_contract_example_is_stored_then_acknowledged_in_xml(live_server):
    response = live_server.post(CONTRACT_EXAMPLE, XML)
    assert response.status_code == 200
    assert acknowledged(response) == ["3234", "3235", "3236"]  # text/xml; charset=utf-8
    assert response.content == (
        b'<?xml version="1.0" encoding="utf-8" ?><response><id_sms>3234</id_sms>'
        b"<id_sms>3235</id_sms><id_sms>3236</id_sms></response>"
    )
    live_server.settled()
    with live_server.client() as client:
        history = client.get("/messages/3235/history").json()
        message = client.get("/messages/3235").json()
    [report] = history["reports"]
    assert (report["state"], report["time"], report["outcome"]) == ("read", T, "applied")
    assert report["channels"] == {"sms": "not_deliver", "viber": "read"}
    assert report["raw"] is None  # the documented form: state, time and channels say it all
    assert (message["state"], message["final"]) == ("read", True)


def test_a_resend_is_a_duplicate_acknowledged_again(live_server):
    body = f'<response><state id_sms="3240" time="{T}" sms="deliver">deliver</state></response>'
    first, second = live_server.post(body.encode(), XML), live_server.post(body.encode(), XML)
    assert acknowledged(first) == acknowledged(second) == ["3240"]
    with live_server.client() as client:
        [report] = client.get("/messages/3240/history").json()["reports"]
    assert report["deliveries"] == 2


def test_an_id_is_echoed_as_sent_and_a_bad_element_costs_only_itself(live_server):
    bad = f'<state id_sms="3251" time="{T}">read&#0;</state>'
    body = (
        f'<response><state id_sms="03250" time="{T}">deliver</state>{bad}'
        f'<state id_sms="x3252" time="{T}">read</state></response>'
    ).encode()
    response = live_server.post(body, {})  # whatever the content type says
    assert acknowledged(response) == ["03250", "3251"]
    with live_server.client() as client:
        [kept] = client.get("/messages/3250/history").json()["reports"]
        [rejected] = client.get("/messages/3251/history").json()["reports"]
    assert (kept["id_sms"], kept["state"]) == ("03250", "deliver")
    assert (rejected["outcome"], rejected["raw"]) == ("rejected", bad)
    assert "reference to invalid character number" in rejected["reason"]
    raw = f'<state id_sms="x3252" time="{T}">read</state>'
    assert "is not an integer" in quarantined(live_server, "item", raw)[0].reason


def test_a_json_body_is_still_answered_in_json(live_server):
    response = live_server.post(b'[{"id_sms": 3260, "time": "", "state": "send"}]')
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [{"id_sms": 3260}]


def test_an_xml_body_that_is_not_a_response_gets_400_and_is_quarantined(live_server):
    body = b"<html><body>no</body></html>"
    response = live_server.post(body, XML)
    assert response.status_code == 400
    assert response.json()["detail"] == "expected a <response> of <state> elements, not <html>"
    assert quarantined(live_server, BODY, body.decode())[0].raw == body.decode()


def test_metrics_and_the_access_log_count_xml_requests(live_server):
    before = scrape(live_server)
    body = f'<response><state id_sms="3270" time="{T}">send</state><x/></response>'.encode()
    assert acknowledged(live_server.post(body, XML)) == ["3270"]
    assert live_server.post(b"<not xml", XML).status_code == 400
    grew = growth(before, scrape(live_server))

    assert grew('tracker_reports_total{outcome="applied"}') == 1
    assert grew("tracker_acknowledged_ids_total") == 1
    assert grew('tracker_quarantined_total{kind="item"}') == 1
    assert grew('tracker_quarantined_total{kind="body"}') == 1
    lines = [line for line in live_server.log.read_text().splitlines() if '"POST"' in line]
    assert any('"status":200' in line for line in lines)
    assert any('"status":400' in line for line in lines)


def test_with_tokens_the_xml_webhook_answers_at_its_token_path(tmp_path):
    token = "xml-token-0123456789abcdef"
    server = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log", webhook_tokens=token
    )
    try:
        with server.client() as client:
            response = client.post(f"/webhooks/webcom/{token}", content=CONTRACT_EXAMPLE)
            assert acknowledged(response) == ["3234", "3235", "3236"]
            wrong = client.post("/webhooks/webcom/not-it", content=CONTRACT_EXAMPLE)
            assert wrong.status_code == 404
    finally:
        stop_server(server)


def test_an_external_entity_reads_nothing_from_disk(live_server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-8c1f3e")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY x SYSTEM "file://{secret}">]>'
        f'<response><state id_sms="3280" time="">&x;</state></response>'
    ).encode()
    started = time.monotonic()
    response = live_server.post(body, XML)
    assert time.monotonic() - started < 1
    assert response.status_code == 400
    assert "the-secret" not in response.text
    with live_server.client() as client:
        assert client.get("/messages/3280/history").status_code == 404
        assert "the-secret" not in client.get("/quarantine", params={"limit": 1000}).text


# --- the hostile corpus: tests/samples/hostile_xml/ and large bodies made here ----------------

CORPUS = sorted(p.name for p in (SAMPLES / "hostile_xml").iterdir())
REFUSED = {
    "billion-laughs.xml",
    "external-entity.xml",
    "parameter-entity.xml",
    "external-dtd.xml",
    "not-a-response.xml",
    "unknown-encoding.bin",
    "idna-declared.xml",  # a codec, but no charset a body is written in
    "escape-codec-with-a-surrogate.xml",
}
EXPECTED = {  # what each other body has acknowledged, exactly (ids as sent)
    "cdata-state.xml": {"900060", "900061"},
    "comments-and-pis.xml": {"900070", "900071"},
    "duplicate-attributes.xml": {"900010", "900013", "900014"},  # not 900011/900012: ambiguous
    "empty-response.xml": set(),
    "ids-that-name-no-message.xml": {"900132", "0900133"},
    "invalid-utf8.bin": {"900190", "900191"},
    "lone-surrogate-char-ref.xml": {"900040", "900041"},
    "namespaces.xml": {"900080", "900081"},
    "nested-children.xml": {"900090", "900091", "900093"},
    "nul-char-ref.xml": {"900050", "900051"},
    "raw-nul-byte.bin": {"900220", "900221"},
    "text-between-elements.xml": {"900160"},
    "trailing-garbage.xml": {"900030"},
    "truncated.xml": {"900120", "900121"},
    "unclosed-element.xml": {"900020", "900021", "900022"},
    "undefined-entity.xml": {"900100", "900101"},
    "unknown-attributes.xml": {"900140"},
    # the element in the comment is none; the broken one names its message (rejected)
    "state-in-a-comment-of-a-broken-body.xml": {"599"},
    "utf-16-body.bin": {"900170"},
    "utf-8-bom.bin": {"900200"},
    "windows-1251-declared.bin": {"900180", "900181"},
    "xinclude.xml": {"900150"},
}
ID_ATTRIBUTE = re.compile(r"""id_sms\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def ids_sent(body: bytes) -> set[str]:
    """Every id_sms attribute's text anywhere in a body: a plain text search, independent of
    the tracker's reader."""
    utf16 = body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:2] in (b"<\x00", b"\x00<")
    text = body.decode("utf-16") if utf16 else body.decode("latin-1")
    return {a or b for a, b in ID_ATTRIBUTE.findall(text)}


def generated() -> dict[str, bytes]:
    one = f'<state id_sms="901001" time="{T}">deliver</state>'.encode()
    return {
        "80000-repeats-of-one-id": b"<response>" + one * 80_000 + b"</response>",
        "deep-nesting": b'<response><state id_sms="901002">'
        + b"<a>" * 100_000
        + b"</a>" * 100_000
        + b"</state></response>",
        "deep-nesting-never-closed": b'<response><state id_sms="901003">' + b"<a>" * 100_000,
        "many-attributes": b'<response><state id_sms="901004"'
        + b"".join(b' a%d="x"' % i for i in range(200_000))
        + b">read</state></response>",
        "huge-text": b'<response><state id_sms="901005">'
        + b"x" * 4_000_000
        + b"</state></response>",
        "many-broken-elements": b"<response>"
        + b"".join(b'<state id_sms="%d">&#0;</state>' % (902_000 + i) for i in range(20_000)),
    }


@pytest.fixture(scope="module")
def stored() -> list[int]:
    """Every message number acknowledged by this module's hostile bodies."""
    return []


def check(server, body: bytes, response) -> set[str]:
    assert response.status_code in (200, 400), response.text[:300]
    if response.status_code == 400:
        assert response.json()["detail"], "a 400 says why"
        return set()
    ids = set(acknowledged(response))
    assert ids <= ids_sent(body), "acknowledged an id that was not sent"
    return ids


@pytest.mark.parametrize("name", CORPUS)
def test_each_hostile_xml_body_is_refused_whole_or_judged_per_element(live_server, stored, name):
    body = sample(f"hostile_xml/{name}")
    started = time.monotonic()
    response = live_server.post(body, XML)
    assert time.monotonic() - started < 5
    ids = check(live_server, body, response)
    if name in REFUSED:
        assert response.status_code == 400
        assert quarantined(live_server, BODY, body.decode())[0].raw == body.decode()
    else:
        assert ids == EXPECTED[name], name
    stored += [message_number(token) for token in ids]


@pytest.mark.parametrize("name", list(generated()))
def test_each_large_hostile_xml_body_is_judged_per_element(live_server, stored, name):
    body = generated()[name]
    ids = check(live_server, body, live_server.post(body, XML))
    assert ids, name  # each holds a readable id: its element is kept, rejected or not
    stored += [message_number(token) for token in ids]


def test_after_the_corpus_every_acknowledged_id_is_stored_and_the_views_catch_up(
    live_server, stored
):
    assert len(stored) > 40
    tracker = live_server.open_store()
    try:
        held = {row["id_sms"] for row in report_rows(tracker)}
    finally:
        tracker.close()
    assert set(stored) - held == set()
    ready = live_server.settled(within=60)
    assert ready["projection"]["lag"] == 0, ready
    with live_server.client() as client:
        [rejected] = client.get("/messages/900040/history").json()["reports"]
        [channels] = client.get("/messages/900170/history").json()["reports"]
    assert (rejected["outcome"], rejected["state"]) == ("rejected", "&#xD800;")
    assert channels["channels"] == {"sms": "deliver"}  # read from a UTF-16 body
