"""Settings, read from ``TRACKER_*`` environment variables; every one has a working default."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from tracker.forwarding.signing import SecretError, Signer

PREFIX = "TRACKER_"
MiB = 1024 * 1024
MIN_TOKEN_LENGTH = 16
ROLES = ("auditor", "analyst", "admin", "sender")


class SettingsError(ValueError):
    """A setting has a value the tracker cannot use; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything an operator can set. README.md lists them with their meaning."""

    database_url: str = "sqlite:///./var/tracker.db"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    timezone: str = "Europe/Moscow"
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 5 * MiB
    create_tables: bool = True
    # Store operations running at once per process (threads; the PostgreSQL pool is sized to it).
    store_threads: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8
    # Change-feed streams (GET /changes/stream) open at once per server process; past it, 503.
    streams: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 32
    # Seconds a write waits for the store's lock before the request gets 503.
    lock_timeout: Annotated[int, msgspec.Meta(ge=1, le=600)] = 5
    # Seconds a webhook request waits for the writer process's receipt of its batch. Past it
    # the answer is 503 saying that the batch may still be committed (a resend then finds it).
    receipt_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    # Seconds a request's head (request line and headers) may take to arrive, from the
    # connection's opening or the request's first byte; past it the connection is closed (408
    # when part of a head came). A client trickling its headers holds a connection no longer.
    header_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 15.0
    # Seconds a request's whole body may take to arrive once its head has: a deadline for the
    # body, not for the pause between two of its chunks, which a byte a second would never
    # exceed. Past it the answer is 408, nothing of the body is used, and the connection closes.
    body_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0
    log_level: str = "info"
    # "process": `tracker serve` keeps the views up to date in a child process of its own (off
    # the writers' interpreter lock); "inline": in a thread of each server process; "off": run
    # `tracker project` yourself (once for several servers).
    projections: Literal["process", "inline", "off"] = "process"
    # "process": `tracker serve` commits every server process's batches in a child process of
    # its own (its interpreter lock not shared with HTTP); "inline": each server process
    # commits its own, in a thread.
    writer: Literal["process", "inline"] = "process"
    # Comma-separated secrets: when set, the webhook is served only at /webhooks/webcom/<token>
    # (the platform cannot sign requests, so the secret lives in the URL it is given). Several
    # tokens let one be rotated without downtime. Each may be NAME:SECRET: the request log
    # shows the name (a bare secret is named token-1, token-2, ... by its position).
    webhook_tokens: str = ""
    # Comma-separated networks (CIDR) the webhook accepts senders from; empty: any sender.
    webhook_allow: str = ""
    # Comma-separated ROLE:KEY pairs (roles: auditor, analyst, admin, sender); when set, every
    # read endpoint and POST /messages/sent need a key of a role allowed there (tracker.web.access).
    api_keys: str = ""
    # With API keys set, /metrics needs an admin key unless this is true.
    metrics_open: bool = False
    # /metrics labels figures by sender and by campaign for this many of each (the most
    # messages), the rest added up as "other": a bounded number of series whatever clients send.
    metrics_groups: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    # A message not final this long after its first receipt (report or registration) is
    # overdue (a duration: 30m, 72h, 3d; see ``duration``). Derived at read time, never stored.
    overdue_after: str = "72h"
    # The platform's status request, for `tracker reconcile`: its .../json/state.php or
    # .../xml/state.php (the format follows the path), and a token or a login and password.
    platform_url: str = ""
    platform_token: str = ""
    platform_login: str = ""
    platform_password: str = ""
    # `tracker reconcile` asks about messages whose last report is older than this.
    reconcile_after: str = "6h"
    # When set, `tracker serve` runs `tracker reconcile` on this period (a duration); empty: never.
    reconcile_every: str = ""
    # Keep the audit tree (tracker/audit/) up to date beside the views. Off, the history is not
    # covered from then on until it is on again (the tree then catches up from where it was).
    audit_tree: bool = True
    # A file holding the Ed25519 private key (PEM, `tracker keygen`) that signs the audit
    # digests; empty: digests are unsigned.
    audit_key: str = ""
    # Outbound webhooks (docs/webhook.md, "Passing changes on"): comma-separated http(s) URLs
    # each state change is POSTed to, signed with the secret (whsec_..., `tracker
    # forward-secret`); a URL newly set starts at the change feed's head ("now") or its
    # beginning ("start"); changes a POST carries; seconds a POST may take; the longest wait
    # between two attempts (a duration).
    forward_url: str = ""
    forward_secret: str = ""
    forward_from: Literal["now", "start"] = "now"
    forward_batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    forward_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    forward_max_backoff: str = "10m"
    # Record every request to the webhook, its body and answer (the request log, /requests).
    request_log: bool = True
    # Bodies and answers are kept this long (a duration), then dropped; the records stay.
    request_log_keep: str = "30d"
    # The bodies and answers kept add up to this many bytes at most (the oldest dropped first).
    request_log_max_bytes: Annotated[int, msgspec.Meta(ge=0)] = 1024 * MiB

    def __post_init__(self) -> None:
        _check_secrets("TRACKER_WEBHOOK_TOKENS", self.tokens)
        _check_secrets("TRACKER_API_KEYS", [key for _, key in self.keys])
        unknown = sorted({role for role, _ in self.keys} - set(ROLES))
        if unknown:
            raise SettingsError(
                f"TRACKER_API_KEYS: unknown role {', '.join(unknown)} (roles: {', '.join(ROLES)}); "
                "write ROLE:KEY pairs separated by commas"
            )
        self.allowed_networks  # noqa: B018 (checks the CIDR list)
        self.named_tokens  # noqa: B018 (checks the names)
        for name in ("overdue_after", "reconcile_after", "reconcile_every", "request_log_keep"):
            value = getattr(self, name)
            if value or name != "reconcile_every":
                _checked_duration(f"{PREFIX}{name.upper()}", value)
        if bool(self.platform_login) != bool(self.platform_password):
            raise SettingsError(
                "TRACKER_PLATFORM_LOGIN and TRACKER_PLATFORM_PASSWORD go together: set both "
                "(or TRACKER_PLATFORM_TOKEN instead)"
            )
        if self.platform_url:
            self.platform_format  # noqa: B018 (checks the URL)
        self.forward_urls  # noqa: B018 (checks the URLs and the secret)
        backoff = _checked_duration("TRACKER_FORWARD_MAX_BACKOFF", self.forward_max_backoff)
        if backoff < timedelta(seconds=1):
            raise SettingsError("TRACKER_FORWARD_MAX_BACKOFF: at least 1s")

    def __repr__(self) -> str:  # the platform's credentials are never shown
        hidden = {"platform_token", "platform_password", "webhook_tokens", "api_keys"}
        hidden |= {"forward_url", "forward_secret"}  # a URL may carry credentials
        shown = ", ".join(
            f"{f}={'***' if f in hidden and getattr(self, f) else repr(getattr(self, f))}"
            for f in self.__struct_fields__
        )
        return f"Settings({shown})"

    @property
    def overdue_age(self) -> timedelta:
        return duration(self.overdue_after)

    @property
    def reconcile_age(self) -> timedelta:
        return duration(self.reconcile_after)

    @property
    def reconcile_period(self) -> timedelta | None:
        return duration(self.reconcile_every) if self.reconcile_every else None

    @property
    def platform_format(self) -> Literal["json", "xml"]:
        """The status request's format, read from TRACKER_PLATFORM_URL's path."""
        match = _PLATFORM_URL.match(self.platform_url)
        try:
            urlsplit(self.platform_url).port  # noqa: B018 (a port out of range raises)
        except ValueError:
            match = None
        if match is None:
            raise SettingsError(
                "TRACKER_PLATFORM_URL: expected the platform's status request, "
                "http(s)://HOST/.../json/state.php or http(s)://HOST/.../xml/state.php"
            )
        return match["format"]  # type: ignore[return-value]

    @property
    def forward_urls(self) -> tuple[str, ...]:
        """TRACKER_FORWARD_URL's URLs, each checked (http or https, a host), with the secret
        that signs what is sent to them (required once a URL is set)."""
        urls = _items(self.forward_url)
        for url in urls:
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 (a port out of range raises)
            except ValueError:  # that, or a bracket left open ("Invalid IPv6 URL")
                parts = urlsplit("")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SettingsError(
                    f"TRACKER_FORWARD_URL: {_shown(url)} is not an http:// or https:// URL "
                    "with a host (several: separate them with commas)"
                )
        if len(set(urls)) != len(urls):
            raise SettingsError("TRACKER_FORWARD_URL: a URL is given twice")
        if urls and not self.forward_secret:
            raise SettingsError(
                "TRACKER_FORWARD_URL is set, so TRACKER_FORWARD_SECRET is needed: the secret "
                "(whsec_...) that signs each POST; `tracker forward-secret` makes one"
            )
        if self.forward_secret:
            try:
                Signer(self.forward_secret)
            except SecretError as e:
                raise SettingsError(f"TRACKER_FORWARD_SECRET: {e}") from None
        return urls

    @property
    def forward_backoff(self) -> float:
        """The longest wait between two attempts to deliver, in seconds."""
        return duration(self.forward_max_backoff).total_seconds()

    @property
    def request_log_age(self) -> timedelta:
        """How long the request log keeps bodies (TRACKER_REQUEST_LOG_KEEP)."""
        return duration(self.request_log_keep)

    @property
    def tokens(self) -> tuple[str, ...]:
        """The webhook's secrets (without their names)."""
        return tuple(secret for _, secret in self.named_tokens)

    @property
    def named_tokens(self) -> tuple[tuple[str, str], ...]:
        """(name, secret) of each webhook token: NAME:SECRET, or a bare SECRET named token-N."""
        pairs = []
        for n, item in enumerate(_items(self.webhook_tokens), 1):
            name, sep, secret = item.rpartition(":")
            name = name.strip() if sep else f"token-{n}"
            if not _TOKEN_NAME.match(name):
                raise SettingsError(
                    f"TRACKER_WEBHOOK_TOKENS: token {n}'s name is not 1-40 letters, digits, "
                    "'.', '-' or '_' (write NAME:SECRET or a bare SECRET)"
                )
            pairs.append((name, secret.strip()))
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise SettingsError("TRACKER_WEBHOOK_TOKENS: two tokens have the same name")
        return tuple(pairs)

    @property
    def keys(self) -> tuple[tuple[str, str], ...]:
        """(role, key) pairs from TRACKER_API_KEYS."""
        pairs = []
        for item in _items(self.api_keys):
            role, sep, key = item.partition(":")
            if not sep:
                raise SettingsError(f"TRACKER_API_KEYS: {item[:3]}... is not ROLE:KEY")
            pairs.append((role.strip(), key.strip()))
        return tuple(pairs)

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(ipaddress.ip_network(n, strict=False) for n in _items(self.webhook_allow))
        except ValueError as e:
            raise SettingsError(
                f"TRACKER_WEBHOOK_ALLOW: {e} (write CIDR networks, comma-separated)"
            ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        names = {f.upper(): f for f in cls.__struct_fields__}
        raw = {
            names[key[len(PREFIX) :]]: value
            for key, value in environ.items()
            if key.startswith(PREFIX) and key[len(PREFIX) :] in names
        }
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as e:
            raise SettingsError(_name_the_variable(str(e))) from None


_DURATION = re.compile(r"^\s*(?P<n>\d{1,9})\s*(?P<unit>s|m|h|d)\s*$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PLATFORM_URL = re.compile(r"^https?://[^/?#\s]+(/[^?#\s]*)?/(?P<format>json|xml)/state\.php$")


def duration(text: str) -> timedelta:
    """A duration as operators write one: a whole number and a unit, ``0s``, ``30m``, ``6h``,
    ``3d``; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write a whole number and s, m, h or d (6h, 3d)"
        )
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


def _checked_duration(variable: str, text: str) -> timedelta:
    try:
        return duration(text)
    except ValueError as e:
        raise SettingsError(f"{variable}: {e}") from None


def _shown(url: str) -> str:
    """A URL as an error may show it: its scheme and host at most (it may carry a secret)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "a value"
    return f"{parts.scheme}://{host}/..." if parts.scheme and host else "a value"


def _items(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _check_secrets(variable: str, secrets: list[str] | tuple[str, ...]) -> None:
    if any(len(s) < MIN_TOKEN_LENGTH for s in secrets):
        raise SettingsError(
            f"{variable}: every secret needs at least {MIN_TOKEN_LENGTH} characters "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    if any(not s.replace("-", "").replace("_", "").isalnum() or not s.isascii() for s in secrets):
        raise SettingsError(f"{variable}: secrets are URL-safe: letters, digits, '-' and '_'")


def _name_the_variable(message: str) -> str:
    # msgspec says "... - at `$.port`"; the operator knows the variable as TRACKER_PORT.
    head, sep, path = message.rpartition(" - at `$.")
    if not sep:
        return message
    return f"{PREFIX}{path.rstrip('`').upper()}: {head}"
