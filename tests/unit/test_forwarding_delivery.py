"""What a delivery is: the batch's id and body, the wait between attempts, the endpoint shown."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.forwarding_feed import Feed
from tracker.forwarding.delivery import (
    EVENT_TYPE,
    LEAST_WAIT,
    batch_of,
    delivered,
    endpoint_key,
    refused,
    retry_after,
    scrubbed,
    shown,
    wait_after,
)
from tracker.forwarding.signing import Signer, new_secret


@given(
    failures=st.integers(1, 200),
    most=st.floats(1, 86_400),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_a_wait_is_a_full_jitter_draw_below_a_doubling_ceiling_capped_at_the_most(
    failures, most, draw
):
    ceiling = min(most, 2.0 ** (failures - 1))
    wait = wait_after(failures, most, draw=lambda: draw)
    assert LEAST_WAIT <= wait <= max(ceiling, LEAST_WAIT)
    assert wait == pytest.approx(max(LEAST_WAIT, ceiling * draw))


@given(failures=st.integers(1, 60), most=st.floats(1, 3600), asked=st.floats(0, 10**6))
def test_a_receivers_retry_after_is_waited_at_least_but_never_past_the_most(failures, most, asked):
    wait = wait_after(failures, most, asked, draw=lambda: 0.0)
    assert min(asked, most) <= wait <= most


def test_the_ceiling_doubles_from_one_second_up_to_the_most():
    top = [wait_after(n, 600, draw=lambda: 1.0) for n in range(1, 13)]
    assert top == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]


def test_a_batch_is_named_by_its_first_and_last_positions_and_its_body_is_the_same_each_time():
    feed = Feed()
    changes = feed.add(3)
    batch = batch_of(changes)
    assert batch.id == f"chg_{changes[0].position}_{changes[-1].position}"
    assert (batch.first, batch.last, batch.count) == (changes[0].position, changes[-1].position, 6)
    assert batch_of(list(changes)).body == batch.body
    payload = msgspec.json.decode(batch.body)
    assert payload["type"] == EVENT_TYPE
    assert payload["timestamp"] == changes[-1].received_at.isoformat().replace("+00:00", "Z")
    assert (payload["data"]["first"], payload["data"]["last"]) == (batch.first, batch.last)
    sent = payload["data"]["changes"]
    assert [c["position"] for c in sent] == [c.position for c in changes]
    assert set(sent[0]) == {
        "position", "id_sms", "previous", "state", "final", "time", "instant", "received_at",
        "source",
    }  # fmt: skip
    assert (sent[0]["previous"], sent[0]["state"], sent[-1]["final"]) == (None, "send", True)


def test_a_signed_batch_verifies_with_the_secret_and_not_with_another():
    secret = new_secret()
    batch = batch_of(Feed().add(1))
    now = int(time.time())
    headers = Signer(secret).headers(batch.id, now, batch.body)
    Signer(secret).verify(headers, batch.body, now)
    with pytest.raises(ValueError):
        Signer(new_secret()).verify(headers, batch.body, now)


@pytest.mark.parametrize(
    ("status", "is_delivered", "is_refused"),
    [(200, True, False), (204, True, False), (301, False, False), (400, False, True),
     (404, False, True), (408, False, False), (429, False, False), (500, False, False),
     (503, False, False)],
)  # fmt: skip
def test_only_a_2xx_delivers_and_a_4xx_other_than_408_and_429_is_a_refusal(
    status, is_delivered, is_refused
):
    assert (delivered(status), refused(status)) == (is_delivered, is_refused)


def test_retry_after_is_read_in_seconds_only():
    assert (retry_after("120"), retry_after(" 5 "), retry_after(None)) == (120.0, 5.0, None)
    assert retry_after("Wed, 21 Oct 2026 07:28:00 GMT") is None


@pytest.mark.parametrize(
    ("url", "seen"),
    [
        ("https://user:pw@crm.example:8443/hooks/in?token=s3cret", "https://crm.example:8443/hooks/in?..."),
        ("http://[::1]:9000", "http://[::1]:9000/"),
        ("https://billing.example/webhook", "https://billing.example/webhook"),
    ],
)  # fmt: skip
def test_an_endpoint_is_shown_without_its_credentials_or_query(url, seen):
    assert shown(url) == seen
    assert "s3cret" not in scrubbed(f"ConnectError: {url} refused", url)


def test_an_endpoint_is_kept_under_a_digest_of_its_whole_url():
    a, b = "https://crm.example/in?token=one", "https://crm.example/in?token=two"
    assert endpoint_key(a) == endpoint_key(a) != endpoint_key(b)
    assert "crm" not in endpoint_key(a) and len(endpoint_key(a)) == 32


def test_the_few_lines_docs_webhook_md_gives_receivers_check_a_real_signature():
    text = (Path(__file__).parents[2] / "docs" / "webhook.md").read_text()
    code = text.split("### Checking the signature", 1)[1].split("```python\n", 1)[1]
    space: dict = {}
    exec(code.split("```", 1)[0], space)  # the documented function, as written
    secret = new_secret()
    batch = batch_of(Feed().add(2))
    headers = Signer(secret).headers(batch.id, int(time.time()), batch.body)
    space["verify"](secret, headers, batch.body)
    with pytest.raises(ValueError, match="not signed"):
        space["verify"](new_secret(), headers, batch.body)
    with pytest.raises(ValueError, match="not signed"):
        space["verify"](secret, headers, batch.body + b" ")
