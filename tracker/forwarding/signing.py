"""Standard Webhooks signatures: what a receiver's library (Svix's, standardwebhooks') checks.

A delivery carries ``webhook-id`` (the same on every retry of it), ``webhook-timestamp`` (Unix
seconds, fresh on each attempt) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256,
under the secret's bytes, of ``id.timestamp.body``. The secret is written ``whsec_`` and its
bytes in base64 (https://www.standardwebhooks.com/, the specification's signature section).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

PREFIX = "whsec_"
TOLERANCE = 300  # seconds a receiver accepts a timestamp off its own clock, as the libraries do


class SecretError(ValueError):
    """A secret that cannot sign, said plainly."""


class BadSignature(ValueError):
    """A delivery whose signature, timestamp or headers do not check."""


def new_secret() -> str:
    """A fresh secret, 24 random bytes, in the ``whsec_`` form."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


class Signer:
    def __init__(self, secret: str):
        text = secret.strip().removeprefix(PREFIX)
        try:
            self.key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(
                f"a webhook secret is {PREFIX} and base64 (make one with: python -c 'import "
                'base64, secrets; print("whsec_" + base64.b64encode(secrets.token_bytes(24))'
                ".decode())'), not what was given"
            ) from None
        if len(self.key) < 16:
            raise SecretError("a webhook secret needs at least 16 bytes")

    def sign(self, message_id: str, timestamp: int, body: bytes) -> str:
        """``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``."""
        signed = f"{message_id}.{timestamp}.".encode() + body
        return "v1," + base64.b64encode(hmac.digest(self.key, signed, hashlib.sha256)).decode()

    def headers(self, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.sign(message_id, timestamp, body),
        }

    def verify(self, headers: Mapping[str, str], body: bytes, now: int) -> None:
        """Raise BadSignature unless one of the ``v1`` signatures the headers carry is this
        secret's for this body, and the timestamp is within TOLERANCE of ``now``."""
        try:
            message_id = headers["webhook-id"]
            timestamp = int(headers["webhook-timestamp"])
            given = headers["webhook-signature"].split()
        except (KeyError, ValueError):
            raise BadSignature("webhook-id, webhook-timestamp and webhook-signature") from None
        if abs(now - timestamp) > TOLERANCE:
            raise BadSignature(f"timestamp {timestamp} is more than {TOLERANCE} s from now")
        expected = self.sign(message_id, timestamp, body)
        if not any(hmac.compare_digest(expected, one) for one in given if one.startswith("v1,")):
            raise BadSignature("no v1 signature of this body under this secret")
