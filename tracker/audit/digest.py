"""Digests: a tree head an auditor keeps, as JSON, signed with Ed25519 when a key is set.

The signed bytes are plain text anyone can rebuild from the JSON's fields:

    tracker-digest/1\\ntree_size N\\nroot_hash HEX\\nposition P\\ntimestamp T\\n

so a digest can be checked with any Ed25519 tool, not only ``tracker verify``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tracker.audit.tree import Head

FORMAT = "tracker-digest/1"


class Digest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The tree of ``tree_size`` events (the log up to notification id ``position``) has root
    ``root_hash``: what the store held at ``timestamp``."""

    format: str = FORMAT
    tree_size: int
    root_hash: str  # hexadecimal
    position: int
    timestamp: str  # ISO 8601, UTC
    algorithm: str = "RFC 6962 Merkle tree, SHA-256"
    public_key: str | None = None  # hexadecimal, the raw 32 bytes of an Ed25519 key
    signature: str | None = None  # hexadecimal

    def signed_bytes(self) -> bytes:
        return (
            f"{FORMAT}\ntree_size {self.tree_size}\nroot_hash {self.root_hash}\n"
            f"position {self.position}\ntimestamp {self.timestamp}\n"
        ).encode()

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)


class KeyFileError(ValueError):
    """A key file or text that cannot be used, said plainly."""


def digest_of(head: Head, at: datetime, key: Ed25519PrivateKey | None = None) -> Digest:
    digest = Digest(
        tree_size=head.size,
        root_hash=head.root.hex(),
        position=head.position,
        timestamp=at.isoformat(timespec="seconds"),
    )
    if key is not None:
        digest.public_key = public_hex(key.public_key())
        digest.signature = key.sign(digest.signed_bytes()).hex()
    return digest


def signature_problem(digest: Digest, trusted: bytes | None) -> str | None:
    """What is wrong with the digest's signature (None: it is sound). With ``trusted`` (a raw
    public key), the digest must be signed by that key; without, an unsigned digest passes and a
    signed one is checked against the key it carries."""
    if digest.signature is None:
        return "it is not signed" if trusted is not None else None
    key_hex = digest.public_key or ""
    if trusted is not None and key_hex != trusted.hex():
        return f"it is signed by key {key_hex[:16]}..., not by {trusted.hex()[:16]}..."
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
        key.verify(bytes.fromhex(digest.signature), digest.signed_bytes())
    except (ValueError, InvalidSignature):
        return "its signature does not match its fields (the digest was altered)"
    return None


def new_key() -> tuple[bytes, str]:
    """A new private key as PEM (PKCS #8) and its public key as hexadecimal."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, public_hex(key.public_key())


def write_key(path: Path, pem: bytes) -> None:
    """Write a private key readable by its owner only; never over an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise KeyFileError(f"cannot read the audit key {path}: {e.strerror or e}") from None
    if b"PUBLIC KEY" in data or _is_key_hex(data[:200].decode(errors="replace").strip()):
        raise KeyFileError(f"{path} holds a public key: name the private key, the file `tracker "
                           "keygen --out` wrote (not its .pub)")  # fmt: skip
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not an unencrypted PEM private key (make one with "
                           "`tracker keygen`)") from None  # fmt: skip
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(text: str) -> bytes:
    """A public key given as 64 hexadecimal characters, or a file holding those or a PEM key."""
    candidate = text.strip()
    if not _is_key_hex(candidate):
        try:
            data = Path(text).read_bytes()
        except OSError:
            raise KeyFileError(
                f"{text!r} is neither a public key (64 hexadecimal characters) nor a file"
            ) from None
        if b"PRIVATE KEY" in data:
            raise KeyFileError(f"{text} holds a private key: give its public half, the .pub "
                               "file `tracker keygen` wrote beside it")  # fmt: skip
        if data.lstrip().startswith(b"{"):  # GET /audit/public-key's answer, saved
            try:
                candidate = str(msgspec.json.decode(data[:1000]).get("public_key", ""))
            except (msgspec.DecodeError, AttributeError):
                candidate = ""
            if not _is_key_hex(candidate):
                raise KeyFileError(f"{text} holds JSON without a public_key of 64 hex characters")
            return bytes.fromhex(candidate)
        if b"BEGIN" in data:
            try:
                key = serialization.load_pem_public_key(data)
            except ValueError as e:
                raise KeyFileError(f"{text} is not a PEM public key ({e})") from None
            if not isinstance(key, Ed25519PublicKey):
                raise KeyFileError(f"{text} holds a {type(key).__name__}, not an Ed25519 key")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        candidate = data[:200].decode(errors="replace").strip()
        if not _is_key_hex(candidate):
            raise KeyFileError(f"{text} holds no public key (64 hexadecimal characters or PEM)")
    return bytes.fromhex(candidate)


def _is_key_hex(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def read_digest(path: str | Path) -> Digest:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read the digest {path}: {e.strerror or e}") from None
    try:
        digest = msgspec.json.decode(data, type=Digest)
        if digest.format != FORMAT or len(digest.root) != 32 or digest.tree_size < 0:
            raise ValueError("not a tracker digest")
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as e:
        raise ValueError(f"{path} is not a tracker digest ({e})") from None
    return digest
