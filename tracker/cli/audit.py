"""The auditor's commands: keygen, digest, verify, proof and verify-proof (docs/reliability.md).

Exit status: 0 when what was checked is sound, 1 when it is not (the history or the views were
changed, a proof or a digest does not hold), 2 when the command could not run (no store, bad
input): a script tells tampering from trouble.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import IntegrityError

from tracker.application import StoreUnavailable, Tracker
from tracker.audit.digest import (
    Digest,
    digest_of,
    load_public_key,
    new_key,
    public_hex,
    read_digest,
    write_key,
)
from tracker.audit.follower import AuditFollower
from tracker.audit.proof import MessageProof, check_proof, prove_message
from tracker.audit.tree import AuditTree, Head, TreeDamaged
from tracker.audit.verify import Verification, verify_log
from tracker.audit.views_check import check_views
from tracker.bootstrap import open_output_views, open_reader, open_views
from tracker.bootstrap.server import audit_key
from tracker.cli.options import fail, load_settings, progress_bar
from tracker.config import Settings, SettingsError
from tracker.domain.ids import message_number

PUBLIC_KEY = Annotated[
    str | None,
    typer.Option(
        "--public-key",
        metavar="KEY",
        help="The public key digests must be signed with: 64 hexadecimal characters, or a file "
        "holding them or a PEM public key. Default: the public half of TRACKER_AUDIT_KEY, if set.",
    ),
]
OUT = Annotated[
    Path | None,
    typer.Option("--out", metavar="FILE", help="Write it to this file instead of the terminal."),
]


def keygen(
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where to write the private key.")
    ] = Path("var/audit-key.pem"),
) -> None:
    """Make an Ed25519 key pair for signing digests: the private key goes to FILE (readable by
    you only; never over an existing file), the public key is printed and written beside it
    (FILE with the suffix .pub) for auditors to keep."""
    pem, public = new_key()
    public_file = out.with_suffix(".pub")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if existing := next((f for f in (out, public_file) if f.exists()), None):
            raise FileExistsError(existing)
        write_key(out, pem)
        public_file.write_text(public + "\n")
    except FileExistsError as e:
        fail(ValueError(f"{e.args[0] if e.args else out} exists: keygen never replaces a key "
                        "(digests it signed would no longer check against the key you "
                        "publish); give another --out"))  # fmt: skip
    except OSError as e:
        fail(ValueError(f"cannot write {out}: {e.strerror or e}"))
    typer.echo(f"private key written to {out} (keep it secret; back it up)")
    typer.echo(f"public key (also in {public_file}): {public}")
    typer.echo(f"sign digests with it: export TRACKER_AUDIT_KEY={out.resolve()}")


def digest(out: OUT = None) -> None:
    """The audit tree's head as a digest to publish or keep: its size, root hash and time,
    signed when TRACKER_AUDIT_KEY is set. The tree is first brought up to the last stored
    event."""
    _fresh(out)
    tracker, _, answer = _current(load_settings())
    tracker.close()
    _write(msgspec.json.format(msgspec.json.encode(answer)), out)
    if out:
        signed = "signed" if answer.signature else "unsigned (set TRACKER_AUDIT_KEY to sign)"
        typer.echo(f"digest of {_n(answer.tree_size, 'event')} written to {out}, {signed}",
                   err=True)  # fmt: skip


def verify(
    digests: Annotated[
        list[Path] | None,
        typer.Option(
            "--digest",
            metavar="FILE",
            help="A digest kept from earlier (repeat for several): the store must extend each, "
            "and each later one the earlier.",
        ),
    ] = None,
    public_key: PUBLIC_KEY = None,
    views: Annotated[
        bool,
        typer.Option(
            "--views",
            help="Also rebuild the views in a scratch file and compare them with the live ones, "
            "naming every message whose row differs.",
        ),
    ] = False,
) -> None:
    """Hash every stored event again, in log order, and compare with the audit tree (and the
    digests given): "verified N events", or the first event that does not match and the message
    it belongs to. Exit status 1 when anything differs."""
    settings = load_settings()
    kept: list[tuple[str, Digest]] = []
    try:
        kept = [(str(path), _read_digest(path)) for path in digests or []]
        trusted = _trusted(settings, public_key)
        source = "--public-key" if public_key else "TRACKER_AUDIT_KEY"
    except ValueError as e:
        fail(e)
    tracker, tree = _open(settings)
    try:
        _follow(tracker, tree, damaged_ok=True)
        total = tracker.store.max_notification_id() or 0
        with progress_bar("verifying", total, "ids") as bar:
            result = verify_log(tracker, tree, kept, trusted=trusted,
                                on_page=lambda at, _: bar.advance(at, at))  # fmt: skip
            bar.finish()
        sound = _say_log(result)
        if sound:
            for name, kept_digest in kept:
                typer.echo(f"digest {name}: the store extends it ({kept_digest.tree_size:,} "
                           f"events; {_signed_by(kept_digest, trusted, source)})")  # fmt: skip
        if views:
            sound = _say_views(tracker, tree, events_sound=sound) and sound
    finally:
        tracker.close()
    if not sound:
        raise typer.Exit(1)


def _say_log(result: Verification) -> bool:
    if result.finding is not None:
        typer.secho(f"NOT VERIFIED: {result.finding}", fg=typer.colors.RED, err=True)
    for problem in result.problems:
        typer.secho(f"NOT VERIFIED: {problem}", fg=typer.colors.RED, err=True)
    if result.sound and result.head is not None:
        typer.echo(f"verified {_n(result.events, 'event')} (root {result.head.root.hex()})")
    return result.sound


def _signed_by(digest: Digest, trusted: bytes | None, source: str) -> str:
    if digest.signature is None:
        return "unsigned"
    if trusted is not None:
        return f"signed by the key {source} gives, {trusted.hex()[:16]}..."
    return (f"signed by the key it carries, {(digest.public_key or '')[:16]}...: name yours "
            "with --public-key to check it is that one")  # fmt: skip


def _say_views(tracker: Tracker, tree: AuditTree, *, events_sound: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="tracker-verify-") as scratch_dir:
        scratch = open_output_views(Path(scratch_dir) / "views.sqlite")
        check = check_views(tracker, tree.views, scratch)
    if check.sound:
        typer.echo(f"views verified: {_n(check.compared - check.moved_on, 'message')} as the "
                   "events make them "
                   f"(at notification id {check.position})")  # fmt: skip
        return True
    if check.differing:
        shown = ", ".join(
            f"{m} ({', '.join(check.columns[m])})" if m in check.columns else str(m)
            for m in check.messages
        )
        more = (
            f" (the first {len(check.messages)} shown)"
            if check.differing > len(check.messages)
            else ""
        )
        typer.secho(f"VIEWS DIFFER: the rows of {_n(check.differing, 'message')} are not what "
                    f"the events make (forged or stale): {shown}{more}",
                    fg=typer.colors.RED, err=True)  # fmt: skip
    for problem in check.problems:
        typer.secho(f"VIEWS DIFFER: {problem}", fg=typer.colors.RED, err=True)
    if events_sound:  # a rebuild from changed events would copy the change into the views
        typer.echo("run `tracker rebuild` to make the views from the events again", err=True)
    else:
        typer.echo("the events themselves were changed (above): find out what happened "
                   "before any `tracker rebuild`, which would make the views from them",
                   err=True)  # fmt: skip
    return False


def proof(
    id_sms: Annotated[str, typer.Argument(metavar="ID_SMS", help="The message's id_sms.")],
    out: OUT = None,
) -> None:
    """The message's events with their inclusion proofs against a digest of the whole log
    (signed when TRACKER_AUDIT_KEY is set): a file anyone can check offline with
    `tracker verify-proof`. The proof is checked before it is written."""
    number = message_number(id_sms)
    if number is None:
        fail(ValueError(f"id_sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}"))
    _fresh(out)
    tracker, tree, signed = _current(load_settings())
    try:
        answer = prove_message(tracker, tree, number, signed)
    except TreeDamaged as e:
        fail(ValueError(f"{e}: its tables were edited; run `tracker verify`"))
    finally:
        tracker.close()
    if answer.unrecorded:
        typer.secho(f"warning: {_n(answer.unrecorded, 'event')} of message {number} are in the "
                    "store at notification ids the audit tree covered, yet it never recorded "
                    "them (not in the proof); run `tracker verify`", fg=typer.colors.YELLOW,
                    err=True)  # fmt: skip
    if not answer.events and not answer.unrecorded:
        fail(ValueError(f"message {number} has no events in the store"))
    check = check_proof(answer)
    if not check.sound:  # the events or the tree were changed: the proof would not hold
        for problem in check.problems:
            typer.secho(f"NOT PROVEN: {problem}", fg=typer.colors.RED, err=True)
        typer.echo("the store was changed since its events were recorded: run `tracker "
                   "verify`; nothing written", err=True)  # fmt: skip
        raise typer.Exit(1)
    _write(msgspec.json.format(msgspec.json.encode(answer)), out)
    if out:
        typer.echo(f"proof of {_n(len(answer.events), 'event')} of message {number} written "
                   f"to {out}", err=True)  # fmt: skip


def verify_proof(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A proof `tracker proof` wrote.")],
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", metavar="KEY",
                     help="The key the digest must be signed with (64 hexadecimal characters, "
                     "or a file holding them or a PEM public key)."),
    ] = None,
) -> None:  # fmt: skip
    """Check a message's proof offline, with no store: every event in it is in the digest's
    tree with exactly the bytes shown, and the digest is signed by the key given."""
    try:
        trusted = load_public_key(public_key) if public_key else None
        data = file.read_bytes()
        answer = msgspec.json.decode(data, type=MessageProof)
    except OSError as e:
        fail(ValueError(f"cannot read {file}: {e.strerror or e}"))
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as e:
        if _decodes_as(data, Digest):
            fail(ValueError(f"{file} is a digest, not a proof: check it against the store with "
                            f"`tracker verify --digest {file}`"))  # fmt: skip
        fail(ValueError(f"{file} is not a tracker proof ({str(e)[:200]})"))
    except ValueError as e:
        fail(e)
    check = check_proof(answer, trusted)
    for note in check.notes:
        typer.echo(f"note: {note}", err=True)
    for problem in check.problems:
        typer.secho(f"NOT PROVEN: {problem}", fg=typer.colors.RED, err=True)
    if not check.sound:
        raise typer.Exit(1)
    d = answer.digest
    typer.echo(f"proven: {_n(check.proved, 'event')} of message {answer.id_sms} "
               f"{'is' if check.proved == 1 else 'are'} in the log of "
               f"{d.tree_size:,} events with root {d.root_hash} ({d.timestamp})")  # fmt: skip


def _open(settings: Settings) -> tuple[Tracker, AuditTree]:
    """The store as it is, never created (an audit of nothing must not say "verified"), with
    its views and audit tables created if need be."""
    try:
        tracker = open_reader(settings)
    except (SettingsError, StoreUnavailable) as e:
        fail(e)
    try:
        return tracker, AuditTree(open_views(tracker)).create()
    except (SettingsError, StoreUnavailable) as e:
        tracker.close()
        fail(e)


def _current(settings: Settings) -> tuple[Tracker, AuditTree, Digest]:
    """The store (the caller closes it), its tree brought up to the last stored event, and
    the digest of that tree now, signed when TRACKER_AUDIT_KEY is set."""
    key = _signing_key(settings)
    tracker, tree = _open(settings)
    try:
        return tracker, tree, digest_of(_follow(tracker, tree), datetime.now(UTC), key)
    except BaseException:
        tracker.close()
        raise


def _fresh(out: Path | None) -> None:
    """Digests and proofs are evidence: one written is never replaced."""
    if out is not None and out.exists():
        fail(ValueError(f"{out} exists: digests and proofs are kept, never replaced; give "
                        "another --out"))  # fmt: skip


def _read_digest(path: Path) -> Digest:
    """A kept digest, or a clear error; a proof given instead is said to be one."""
    try:
        return read_digest(path)
    except ValueError:
        try:
            proof = _decodes_as(path.read_bytes(), MessageProof)
        except OSError:
            proof = False
        if not proof:
            raise
        raise ValueError(f"{path} is a message's proof, not a digest: check it with `tracker "
                         f"verify-proof {path}`") from None  # fmt: skip


def _decodes_as(data: bytes, kind: type) -> bool:
    try:
        msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return False
    return True


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _follow(tracker: Tracker, tree: AuditTree, *, damaged_ok: bool = False) -> Head:
    """The tree brought up to the log's head (a server's follower may move it meanwhile). A
    damaged tree fails the command, unless ``damaged_ok`` (verify: it then says where)."""
    follower = AuditFollower(tracker, tree)
    for _ in range(5):
        try:
            return follower.catch_up()
        except IntegrityError:
            continue  # another follower extended it first: read it again
        except TreeDamaged as e:
            if damaged_ok:
                typer.secho(f"warning: {e}; not extended", fg=typer.colors.YELLOW, err=True)
                break
            tracker.close()
            fail(ValueError(f"{e}: its tables were edited; run `tracker verify`"))
    return tree.head()


def _signing_key(settings: Settings) -> Ed25519PrivateKey | None:
    """TRACKER_AUDIT_KEY's key, as the server reads it; or a one-line error."""
    try:
        return audit_key(settings)
    except SettingsError as e:
        fail(e)


def _trusted(settings: Settings, public_key: str | None) -> bytes | None:
    """The public key digests must be signed with: ``--public-key``, else TRACKER_AUDIT_KEY's."""
    if public_key:
        return load_public_key(public_key)
    key = _signing_key(settings)
    return None if key is None else bytes.fromhex(public_hex(key.public_key()))


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        typer.echo(data.decode())
        return
    try:
        out.write_bytes(data + b"\n")
    except OSError as e:
        fail(ValueError(f"cannot write {out}: {e.strerror or e}"))
