"""What a leaf of the audit tree is: the canonical bytes of one stored event row.

A row is (notification id, originator id, version, topic, state), the state being the event's
stored bytes exactly as the store holds them. Its leaf is these, fixed-width where they can be,
so that anyone can recompute it from the row with no knowledge of the tracker's code:

    notification id (8 bytes, big-endian) || originator id (16 bytes) ||
    version (8 bytes, big-endian) || topic's length (2 bytes) || topic (UTF-8) || state

and its hash is RFC 6962's: SHA-256 of 0x00 and the leaf (domain.merkle.leaf_hash).
"""

from __future__ import annotations

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
        _int8(notification_id), originator, _int8(version),
        len(name).to_bytes(2, "big"), name, state,
    ))  # fmt: skip


def _int8(value: int) -> bytes:
    """A stored integer as 8 bytes; one no store of ours writes (edited in) as its digits."""
    try:
        return value.to_bytes(8, "big")
    except (OverflowError, AttributeError):
        return str(value).encode()


def originator_bytes(key: Any) -> bytes:
    """An originator id as 16 bytes, whether a row holds bytes (SQLite) or a UUID (PostgreSQL)."""
    return key if type(key) is bytes else key.bytes if hasattr(key, "bytes") else str(key).encode()


def hashed(rows: list[Row]) -> list[tuple[int, bytes, bytes]]:
    """(notification id, originator id as 16 bytes, leaf hash) of each row."""
    out = []
    for nid, key, version, topic, state in rows:
        originator = originator_bytes(key)
        out.append((nid, originator, leaf_hash(leaf_bytes(nid, originator, version, topic, state))))
    return out


def owner(originator: bytes) -> str:
    """Whose event this is, for people: ``message 3234`` or ``quarantined input 5f0c...``."""
    if len(originator) != 16:
        return f"an aggregate whose id is not 16 bytes ({originator[:20].hex()})"
    key = UUID(bytes=originator)
    return f"message {id_sms_of(key)}" if is_message_id(key) else f"quarantined input {key.hex}"
