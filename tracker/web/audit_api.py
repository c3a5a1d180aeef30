"""The audit routes: the audit tree's digest, the key that signs it, a message's proof."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Response, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter

from tracker.application import Tracker
from tracker.audit.digest import Digest, digest_of, public_hex
from tracker.audit.proof import MessageProof, prove_message
from tracker.audit.tree import EMPTY, FAILED, TREE, VERIFIED, AuditTree, Head
from tracker.domain.ids import message_id
from tracker.web.access import AUDITOR
from tracker.web.api import for_roles
from tracker.web.backend import Backend
from tracker.web.params import id_sms_number

PROOF_PAGE, PROOF_PAGE_MAX = 1000, 10_000  # events a page of a proof holds: by default, at most
NO_KEY = (
    "no key signs the digests here: the server's TRACKER_AUDIT_KEY is not set (`tracker "
    "keygen` makes a key); its digests are unsigned"
)


class PublicKey(msgspec.Struct, kw_only=True):
    """The key that signs the digests: the raw 32 bytes of an Ed25519 public key."""

    public_key: str  # 64 hexadecimal characters
    algorithm: str = "Ed25519"


def current_digest(tree: AuditTree, key: Ed25519PrivateKey | None) -> Digest:
    """The digest of the tree's head, where its follower has got to, timed when it got there
    (so the same head always gives the same digest); signed with ``key`` if there is one."""
    head = tree.head()
    return digest_of(head, head.at or datetime.now(UTC), key)


@dataclass(frozen=True, slots=True)
class ProofPage:
    """A page of a message's proof: its JSON, and where it stands among the message's events."""

    body: bytes  # a MessageProof, as `tracker verify-proof` reads it
    start: int
    end: int
    total: int  # the message's events in all


def proof_page(
    tracker: Tracker,
    tree: AuditTree,
    key: Ed25519PrivateKey | None,
    id_sms: int,
    start: int,
    limit: int,
) -> ProofPage | None:
    """The message's events ``start``.. (at most ``limit``, in version order) proved against
    the current digest, encoded here (a worker thread): None if the message has no events."""
    digest = current_digest(tree, key)
    last = tracker.store.select_last_events_of([message_id(id_sms)])
    if not last:
        return None
    total = last[0].originator_version  # a message's versions run 1, 2, 3...
    if start >= total:
        return ProofPage(b"", start, start, total)
    proof = prove_message(tracker, tree, id_sms, digest, after=start, limit=limit)
    end = start + len(proof.events) + proof.pending + proof.unrecorded
    return ProofPage(msgspec.json.encode(proof), start, end, total)


async def read_proof_page(
    backend: Backend, id_sms: int, start: int, limit: int
) -> ProofPage | None:
    """``proof_page`` in a worker thread, a few at once per process (``Backend.proofs``):
    the API's route and the console's both go through here."""
    async with backend.proofs:
        return await backend.read(
            proof_page, backend.tracker, backend.audit, backend.audit_key, id_sms, start, limit
        )


def proof_response(found: ProofPage | None, id_sms: int, path: str, limit: int) -> Response:
    """The proof page as an answer, with the message's event count and the next page's link."""
    if found is None:
        raise NotFoundException(detail=f"no status was received for id_sms {id_sms}")
    if not found.body:
        raise NotFoundException(
            detail=f"id_sms {id_sms} has {found.total} events: none from start {found.start}"
        )
    headers = {"X-Total-Count": str(found.total)}
    if found.end < found.total:
        headers["Link"] = f'<{path}?{urlencode({"start": found.end, "limit": limit})}>; rel="next"'
    return Response(found.body, media_type="application/json", headers=headers)


@dataclass(frozen=True, slots=True)
class AuditStatus:
    """What the console says of the audit: the tree's head, the last sound verification, and
    the last one that found the history changed (if none sound came since)."""

    tree: Head
    verified: Head | None
    signed: bool  # the digests are signed (TRACKER_AUDIT_KEY is set)
    failed: Head | None = None


def audit_status(tree: AuditTree, key: Ed25519PrivateKey | None) -> AuditStatus:
    heads = tree.heads()  # one read
    return AuditStatus(
        heads.get(TREE, EMPTY), heads.get(VERIFIED), key is not None, heads.get(FAILED)
    )


@get(
    "/audit/digest",
    summary="The audit tree's current digest: its size and root hash, signed when a key is set",
    **for_roles(AUDITOR),
)
async def audit_digest(backend: NamedDependency[Backend]) -> Digest:
    """The Merkle tree (RFC 6962) over every stored event as far as the server's follower has
    taken it (a moment behind the last event): keep digests to check later with `tracker
    verify --digest FILE` that the history still extends them. Signed with Ed25519 when
    TRACKER_AUDIT_KEY is set (GET /audit/public-key gives the key)."""
    return await backend.read(current_digest, backend.audit, backend.audit_key)


@get(
    "/audit/public-key",
    summary="The Ed25519 public key that signs the digests",
    **for_roles(AUDITOR, errors=(404,)),
)
async def audit_public_key(backend: NamedDependency[Backend]) -> PublicKey:
    """404 when the server has no TRACKER_AUDIT_KEY (its digests are then unsigned). Compare
    the key with one obtained another way before trusting what it signs."""
    if backend.audit_key is None:
        raise NotFoundException(detail=NO_KEY)
    return PublicKey(public_key=public_hex(backend.audit_key.public_key()))


@get(
    "/messages/{id_sms:str}/proof",
    summary="A message's events with their inclusion proofs against the current digest",
    **for_roles(AUDITOR, errors=(400, 404)),
    response_headers=[
        ResponseHeader(
            name="X-Total-Count",
            documentation_only=True,
            description="The message's events in all (a page holds `limit` of them)",
        ),
        ResponseHeader(
            name="Link",
            documentation_only=True,
            description='The next page, `<...?start=N&limit=L>; rel="next"`, while there is one',
        ),
    ],
)
async def message_proof(
    id_sms: FromPath[str],
    backend: NamedDependency[Backend],
    start: Annotated[
        int, Parameter(ge=0, le=2**31, description="The first event (0: the message's first).")
    ] = 0,
    limit: Annotated[
        int, Parameter(ge=1, le=PROOF_PAGE_MAX, description="Events a page holds.")
    ] = PROOF_PAGE,
) -> Response[MessageProof]:
    """Each event as stored (its bytes in base64, and decoded) with its audit path to the
    digest's root: `tracker verify-proof FILE --public-key KEY` checks it offline. `pending`
    counts this page's events stored after the digest's tree (its follower is a moment
    behind). A page is a proof on its own; the `Link` header leads to the next one."""
    number = id_sms_number(id_sms)
    found = await read_proof_page(backend, number, start, limit)
    return proof_response(found, number, f"/messages/{number}/proof", limit)


ROUTES = [audit_digest, audit_public_key, message_proof]
