"""Proofs for one message: its events, each with its inclusion proof against a digest, as a
file an auditor can check offline (``tracker verify-proof``), with no access to the store.

A proof shows that each event it lists is in the log the digest covers, at its position, with
exactly these bytes. It does not show that the message has no other events: the log's other
events are not in the file (docs/reliability.md).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec

from tracker.application import Tracker
from tracker.audit.digest import Digest, signature_problem
from tracker.audit.leaves import Row, leaf_bytes, leaf_of
from tracker.audit.tree import AuditTree
from tracker.codec import decode
from tracker.domain.ids import message_id
from tracker.domain.merkle import inclusion_path, leaf_hash, verify_inclusion

FORMAT = "tracker-proof/1"


class ProvedEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    position: int  # 0-based, in log order
    notification_id: int
    originator_id: str  # the aggregate's UUID
    version: int
    topic: str
    state: str  # the stored bytes, base64
    audit_path: list[str]  # hexadecimal, from the leaf's sibling up
    event: dict[str, Any] = {}  # the stored bytes decoded, for people (checked against them)


class MessageProof(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: str = FORMAT
    id_sms: int
    digest: Digest
    events: list[ProvedEvent]
    pending: int = 0  # the message's events stored after the digest's tree (not proven here)
    # Its events in the store at ids the tree had covered, yet never recorded (not proven: a
    # row put into the log by hand; `tracker verify` names it)
    unrecorded: int = 0


def prove_message(
    tracker: Tracker,
    tree: AuditTree,
    id_sms: int,
    digest: Digest,
    *,
    after: int = 0,
    limit: int = -1,
) -> MessageProof:
    """The message's events in the tree ``digest`` describes, with their audit paths (the
    digest's tree must be the stored tree's head or a prefix of it): those of versions above
    ``after``, at most ``limit`` (-1: all). A message's versions run 1, 2, 3...: a page of
    ``limit`` from ``after`` is followed by the one from ``after + limit``."""
    rows = tracker.store.select_log_of(message_id(id_sms), after, limit)
    return prove_rows(tree, id_sms, rows, digest)


def prove_rows(tree: AuditTree, id_sms: int, rows: Sequence[Row], digest: Digest) -> MessageProof:
    """``prove_message`` for these of the message's rows (as ``select_log_of`` gives them):
    a page of a long history is proved on its own (``pending`` then counts this page's)."""
    subtrees = tree.subtrees()
    proved, pending, unrecorded = [], 0, 0
    positions = tree.positions()
    for row in rows:
        nid, _, version, topic, state = row
        _, originator, _, problem = leaf_of(row)
        malformed = problem is not None
        position = None if malformed else positions(nid)
        if position is None and (malformed or nid <= digest.position):
            unrecorded += 1  # the tree covered its id and never saw it: set there by hand?
            continue
        if position is None or position >= digest.tree_size:
            pending += 1
            continue
        path = inclusion_path(position, digest.tree_size, subtrees)
        proved.append(
            ProvedEvent(
                position=position,
                notification_id=nid,
                originator_id=str(UUID(bytes=originator)),
                version=version,
                topic=topic,
                state=base64.b64encode(state).decode(),
                audit_path=[h.hex() for h in path],
                event=readable(topic, state),
            )
        )
    return MessageProof(
        id_sms=id_sms, digest=digest, events=proved, pending=pending, unrecorded=unrecorded
    )


def readable(topic: str, state: bytes) -> dict[str, Any]:
    """A stored event's fields by name, as JSON values."""
    event = decode(topic, state)
    fields = {name: getattr(event, name) for name in event.__struct_fields__}
    return msgspec.to_builtins({"type": type(event).__name__, **fields})  # type: ignore[no-any-return]


@dataclass(slots=True)
class ProofCheck:
    proved: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems


def check_proof(proof: MessageProof, trusted: bytes | None = None) -> ProofCheck:
    """Check every event's inclusion in the digest's root, and the digest's signature."""
    check = ProofCheck()
    digest = proof.digest
    if (problem := signature_problem(digest, trusted)) is not None:
        check.problems.append(f"the digest: {problem}")
    elif digest.signature is None:
        check.notes.append(
            "the digest is unsigned: this proves the events are in the tree of root "
            f"{digest.root_hash[:16]}...; compare that root with a digest you hold"
        )
    elif trusted is None:
        check.notes.append(
            f"the digest is signed by key {digest.public_key}, which you did not name "
            "(--public-key): a forger could sign with a key of their own"
        )
    if not 0 <= proof.id_sms < 2**63:
        check.problems.append(f"id_sms {proof.id_sms} names no message")
        return check
    try:
        top = digest.root
        if len(top) != 32:
            raise ValueError("not 32 bytes")
    except ValueError as error:
        check.problems.append(f"the digest's root_hash is unreadable ({error})")
        return check
    if not proof.events:
        check.problems.append("it holds no events: it proves nothing")
    expected = message_id(proof.id_sms)
    seen: set[int] = set()
    for e in proof.events:
        where = (f"the event at position {e.position} of the log (counted from 0; "
                 f"notification id {e.notification_id})")  # fmt: skip
        if e.position in seen:
            check.problems.append(f"{where}: listed more than once")
            continue
        seen.add(e.position)
        try:
            key, state = UUID(e.originator_id), base64.b64decode(e.state, validate=True)
            path = [bytes.fromhex(h) for h in e.audit_path]
            leaf = leaf_hash(leaf_bytes(e.notification_id, key.bytes, e.version, e.topic, state))
        except (ValueError, OverflowError) as error:
            check.problems.append(f"{where}: unreadable ({error})")
            continue
        if key != expected:
            check.problems.append(f"{where}: an event of another message, not of {proof.id_sms}")
            continue
        if not verify_inclusion(e.position, digest.tree_size, leaf, path, top):
            check.problems.append(
                f"{where}: not in the digest's tree (its bytes, its position or its audit "
                "path were altered)"
            )
            continue
        try:
            shown = readable(e.topic, state)
        except Exception:
            shown = None
        if e.event and shown != e.event:
            check.problems.append(f"{where}: its readable fields differ from its stored bytes")
            continue
        check.proved += 1
    return check
