"""Standard Webhooks signatures: the specification's published vector, and what must not pass."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.forwarding.signing import BadSignature, SecretError, Signer, new_secret

# The specification's test vector (its reference libraries test the same).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ID, TIMESTAMP, BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_vector_is_reproduced_exactly():
    assert Signer(SECRET).sign(ID, TIMESTAMP, BODY) == SIGNATURE
    assert Signer(SECRET.removeprefix("whsec_")).sign(ID, TIMESTAMP, BODY) == SIGNATURE


def test_a_receiver_accepts_the_vector_among_other_signatures_within_the_tolerance():
    headers = {"webhook-id": ID, "webhook-timestamp": str(TIMESTAMP),
               "webhook-signature": f"v1,bm9wZQ== {SIGNATURE}"}  # fmt: skip
    Signer(SECRET).verify(headers, BODY, now=TIMESTAMP + 299)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"body": BODY + b" "}, "no v1 signature"),
        ({"webhook-id": "msg_other"}, "no v1 signature"),
        ({"webhook-timestamp": str(TIMESTAMP + 1)}, "no v1 signature"),
        ({"now": TIMESTAMP + 301}, "more than 300 s"),
        ({"webhook-signature": SIGNATURE.replace("v1,", "v2,")}, "no v1 signature"),
        ({"webhook-timestamp": "soon"}, "webhook-id, webhook-timestamp"),
    ],
)
def test_an_altered_late_or_malformed_delivery_is_refused(change, said):
    headers = {"webhook-id": ID, "webhook-timestamp": str(TIMESTAMP),
               "webhook-signature": SIGNATURE}  # fmt: skip
    body, now = change.pop("body", BODY), change.pop("now", TIMESTAMP)
    with pytest.raises(BadSignature, match=said):
        Signer(SECRET).verify({**headers, **change}, body, now=now)


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40), st.integers(0, 2**40))
def test_what_one_secret_signs_it_verifies_and_another_never_does(body, message_id, timestamp):
    mine, other = Signer(new_secret()), Signer(new_secret())
    headers = mine.headers(message_id, timestamp, body)
    mine.verify(headers, body, now=timestamp)
    with pytest.raises(BadSignature):
        other.verify(headers, body, now=timestamp)


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_c2hvcnQ=", ""])
def test_a_secret_that_cannot_sign_is_refused_plainly(secret):
    with pytest.raises(SecretError):
        Signer(secret)
