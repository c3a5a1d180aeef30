"""What a leaf of the audit tree is: the canonical bytes of one stored event row.

A row is (notification id, originator id, version, topic, state), the state being the event's
stored bytes exactly as the store holds them. Its leaf is these, fixed-width where they can be,
so that anyone can recompute it from the row with no knowledge of the tracker's code:

    notification id (8 bytes, big-endian, signed) || originator id (16 bytes) ||
    version (8 bytes, big-endian) || topic's length (2 bytes) || topic (UTF-8) || state

and its hash is RFC 6962's: SHA-256 of 0x00 and the leaf (domain.merkle.leaf_hash).
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from tracker.domain.ids import id_sms_of, is_message_id
from tracker.domain.merkle import leaf_hash

Row = tuple[int, Any, int, str, bytes]  # as a store's select_log gives it


def leaf_bytes(
    notification_id: int, originator: bytes, version: int, topic: str, state: bytes
) -> bytes:
    name = topic.encode(errors="surrogateescape")  # as stored, even if not UTF-8 (edited)
    return b"".join((
        notification_id.to_bytes(8, "big", signed=True), originator, version.to_bytes(8, "big"),
        len(name).to_bytes(2, "big"), name, state,
    ))  # fmt: skip


def originator_bytes(key: Any) -> bytes:
    """An originator id as 16 bytes, whether a row holds bytes (SQLite) or a UUID (PostgreSQL)
    (anything else, edited in, as its text)."""
    if type(key) is bytes:
        return key
    return key.bytes if hasattr(key, "bytes") else str(key).encode(errors="surrogateescape")


def leaf_of(row: Row) -> tuple[int, bytes, bytes, str | None]:
    """(notification id, originator id, leaf hash, what is wrong with the row or None).

    A row no store of ours writes (a version that is no integer, an originator id not of 16
    bytes, a value of another type, put there by hand) has no leaf: its hash is SHA-256 of
    0x02 and its text, which no leaf (0x00) or node (0x01) of an honest tree can have, and it
    is named as malformed."""
    nid, key, version, topic, state = row
    originator = originator_bytes(key) if key is not None else b""
    problem = None
    if type(version) is str and version.startswith("stored as "):  # a store's own check
        problem = f"its values are {version}"
    elif type(version) is not int or not 0 <= version < 2**63:
        problem = f"its version {str(version)[:120]} is no whole number as the tracker stores it"
    elif len(originator) != 16:
        problem = f"its originator id is {len(originator)} bytes, not 16"
    elif type(nid) is not int or not -(2**63) <= nid < 2**63:
        problem = f"its notification id {nid!r} is out of range"
    elif type(topic) is not str or len(topic.encode(errors="surrogateescape")) > 0xFFFF:
        problem = "its topic is no short text"
    elif type(state) is not bytes:
        problem = f"its state is {type(state).__name__}, not the bytes the tracker stores"
    if problem is not None:
        text = repr((nid, originator, version, topic, state)).encode(errors="surrogateescape")
        return nid, originator, hashlib.sha256(b"\x02" + text).digest(), problem
    return nid, originator, leaf_hash(leaf_bytes(nid, originator, version, topic, state)), None


def hashed(rows: list[Row]) -> list[tuple[int, bytes, bytes]]:
    """(notification id, originator id as 16 bytes, leaf hash) of each row."""
    return [leaf[:3] for leaf in map(leaf_of, rows)]


def owner(originator: bytes) -> str:
    """Whose event this is, for people: ``message 3234`` or ``quarantined input 5f0c...``."""
    if len(originator) != 16:
        return f"an aggregate whose id is not 16 bytes ({originator[:20].hex()})"
    key = UUID(bytes=originator)
    return f"message {id_sms_of(key)}" if is_message_id(key) else f"quarantined input {key.hex}"
