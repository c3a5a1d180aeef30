"""The platform's status request as the client makes it and reads its answers (no network: an
httpx mock transport); and the pacer of reconciliation's requests."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.platform import Credentials, PlatformClient, PlatformError, Polled
from tracker.reconcile import Pacer

SECRET = "pa55-word-never-shown"


LOGIN = Credentials(login="me", password=SECRET)


def client(answer, fmt="json", credentials=LOGIN):
    """A client whose every request gets ``answer(request)``: (status, text)."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        status, text = answer(request)
        return httpx.Response(status, text=text)

    url = f"https://user:pw@platform.example/api/{fmt}/state.php"
    made = PlatformClient(url, fmt, credentials, transport=httpx.MockTransport(handler))
    return made, sent


def test_json_request_and_answer():
    answer = [{"id_sms": "82216", "time_change_state": "2021-04-26 15:15:03", "state": "deliver",
               "num_parts": 1, "price": 10.6}]  # fmt: skip
    c, sent = client(lambda _: (200, json.dumps(answer)))
    assert c.ask([82216]) == [Polled(82216, "deliver", "2021-04-26 15:15:03", 1, 10.6)]
    assert json.loads(sent[0].content) == [
        {"login": "me", "password": SECRET, "id_sms": 82216, "detail": 1}
    ]
    assert sent[0].headers["content-type"] == "text/json; charset=utf-8"
    assert c.shown == "https://platform.example"  # the URL's user and password never shown
    with pytest.raises(ValueError):
        c.ask([1, 2])  # one id a JSON request


def test_xml_request_escapes_the_credentials_and_reads_each_channel():
    text = (
        '<?xml version="1.0" encoding="utf-8" ?><response>'
        '<state id_sms="1" time="2011-01-01 12:57:46" sms="deliver">deliver</state>'
        '<state id_sms="2" time="" sms="not_deliver" viber="read"> read </state></response>'
    )
    c, sent = client(lambda _: (200, text), "xml", Credentials(token='a"<&>b'))
    assert c.ask([1, 2, 3]) == [
        Polled(1, "deliver", "2011-01-01 12:57:46", channels={"sms": "deliver"}),
        Polled(2, "read", "", channels={"sms": "not_deliver", "viber": "read"}),
    ]
    body = sent[0].content.decode()
    assert ET.fromstring(body).find("security/token").get("value") == 'a"<&>b'
    assert "<get_state><id_sms>1</id_sms><id_sms>2</id_sms><id_sms>3</id_sms></get_state>" in body
    assert c.batch == 100


REFUSALS = [
    (
        400,
        '{"error": "Incorrect login or password"}',
        "refused the status request: Incorrect login",
    ),
    (400, '{"error": "Your account is locked"}', "Your account is locked"),
    (200, '{"error": "POST data is missing"}', "POST data is missing"),
    (503, "Service Unavailable", "answered HTTP 503"),
    (200, "[{}]", "an item without state and time"),
    (200, '[{"id_sms": 7, "state": "read", "time_change_state": ""}]', "id_sms 7, not asked"),
    (200, '[{"id_sms": true, "state": "read", "time_change_state": ""}]', "not a message number"),
    (200, '[{"id_sms": 1, "state": "read", "time_change_state": "", "price": "1"}]', "price"),
    (200, '[{"id_sms": 1, "state": "read", "time_change_state": "", "num_parts": -1}]', "count"),
    (200, "<html>", "not JSON"),
    (200, '[{"id_sms": 1, "state": "read", "time_change_state": "", "num_parts": 10E29}]', "count"),
    (200, '[{"id_sms": 1, "state": "read", "time_change_state": "", "num_parts": '
          '1000000000000000000000000000000}]', "count"),
    (200, '[{"id_sms": 1, "state": "read", "time_change_state": "", "price": 1e400}]', "price"),
    (200, '[{"id_sms": 1, "state": "read", "time_change_state": "", "price": Infinity}]', "price"),
    (200, '[{"id_sms": 1, "state": "\\ud800", "time_change_state": ""}]', "state and time"),
    (200, "[" * 200_000 + "]" * 200_000, "not JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "text", "reason"), REFUSALS)
def test_json_failures_are_one_line_reasons(status, text, reason):
    c, _ = client(lambda _: (status, text))
    with pytest.raises(PlatformError) as raised:
        c.ask([1])
    assert reason in str(raised.value) and "\n" not in str(raised.value)


XML_REFUSALS = [
    ("<response><error>Your account is locked</error></response>", "Your account is locked"),
    ("<response><state id_sms='1'>read</state></response>", "without id_sms and time"),
    ("<answer/>", "not a <response> element"),
    ("<response><item/></response>", "holds an element other than <state>"),
    ("<response><state", "not well-formed XML"),
    ('<!DOCTYPE r [<!ENTITY a "aaaa">]><response/>', "declares a DTD or entities"),
    ('<!DOCTYPE r SYSTEM "file:///etc/passwd"><response/>', "declares a DTD or entities"),
    ("<response><state id_sms='1' time=''>&ext;</state></response>", "not well-formed XML"),
]


@pytest.mark.parametrize(("text", "reason"), XML_REFUSALS)
def test_xml_answers_are_read_strictly_and_safely(text, reason):
    c, _ = client(lambda _: (200, text), "xml")
    with pytest.raises(PlatformError) as raised:
        c.ask([1])
    assert reason in str(raised.value)


def test_billion_laughs_is_refused_before_any_expansion():
    laughs = '<!DOCTYPE r [<!ENTITY a "ha">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    c, _ = client(lambda _: (200, laughs + ']><response time="&j;"/>'), "xml")
    with pytest.raises(PlatformError, match="DTD or entities"):
        c.ask([1])


def test_an_echoed_credential_is_hidden_and_transport_errors_are_one_line():
    c, _ = client(lambda _: (400, json.dumps({"error": f"bad password {SECRET}\nfor me"})))
    with pytest.raises(PlatformError) as raised:
        c.ask([1])
    assert SECRET not in str(raised.value) and "***" in str(raised.value)

    def refuse(_):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    c, _ = client(refuse)
    with pytest.raises(PlatformError, match=r"^cannot reach the platform at https://platform"):
        c.ask([1])

    def late(_):
        raise httpx.ReadTimeout("timed out")

    c, _ = client(late)
    with pytest.raises(PlatformError, match="did not answer within 10 s"):
        c.ask([1])


def test_every_answer_for_an_id_is_kept_the_rules_decide_between_them():
    said = [("deliver", "2021-04-26 15:00:00"), ("not_deliver", "2021-04-26 15:10:00")]
    answer = [{"id_sms": 1, "time_change_state": t, "state": s} for s, t in said]
    c, _ = client(lambda _: (200, json.dumps(answer)))
    assert [(p.state, p.time) for p in c.ask([1])] == [
        ("deliver", "2021-04-26 15:00:00"), ("not_deliver", "2021-04-26 15:10:00")
    ]  # fmt: skip


def test_an_answer_dripping_in_is_cut_off_at_the_timeout_not_per_read():
    class Drip(httpx.SyncByteStream):
        def __iter__(self):
            while True:
                time.sleep(0.05)
                yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip())

    url = "https://platform.example/api/json/state.php"
    c = PlatformClient(url, "json", LOGIN, timeout=0.5, transport=httpx.MockTransport(handler))
    started = time.monotonic()
    with pytest.raises(PlatformError, match=r"did not answer within 0\.5 s"):
        c.ask([1])
    assert time.monotonic() - started < 2


def test_credentials_are_never_in_a_repr():
    assert SECRET not in repr(Credentials(login="me", password=SECRET))


@given(st.floats(min_value=0.5, max_value=50), st.lists(st.floats(0, 2), max_size=20))
def test_the_pacer_keeps_requests_apart(rate, work):
    """Whatever time each request's work takes, two requests start at least 1/rate apart."""
    now = [0.0]
    starts = []
    pacer = Pacer(rate, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for seconds in [*work, 0.0]:
        pacer.wait()
        starts.append(now[0])
        now[0] += seconds
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g >= 1 / rate - 1e-9 for g in gaps)


def test_a_platform_dripping_its_headers_is_cut_off_near_the_timeout():
    """A real socket: the status line, then one header every 0.2 s, for ever (each read is
    quick, so only a deadline for the whole answer ends it)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"X-A: b\r\n")
                except OSError:
                    return

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/api/json/state.php"
    c = PlatformClient(url, "json", LOGIN, timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(PlatformError, match="did not answer within 1 s"):
            c.ask([1])
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        server.close()


def test_a_host_name_no_resolver_takes_is_one_line():
    c = PlatformClient("http://a..b/json/state.php", "json", LOGIN, timeout=2.0)
    with pytest.raises(PlatformError, match=r"host name is not valid"):
        c.ask([1])
