"""Who may do what: API keys with roles (reading, registering), webhook tokens and networks."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler

from tracker.config import Settings

# What each role may read. Admin may do everything, including what only admin may do. A sender
# may only register what was sent (POST /messages/sent): it reads nothing.
AUDITOR, ANALYST, ADMIN, SENDER = "auditor", "analyst", "admin", "sender"
ANY_ROLE = (AUDITOR, ANALYST, ADMIN)  # every role that reads

# Guards are coroutines: Litestar runs a plain function guard in a worker thread, a hop that
# cost the webhook a tenth of the server's time under load (measured); these do no I/O.
Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]


class Access:
    """The operator's access settings, checked per request.

    API keys are kept only as SHA-256 digests and looked up by digest, so the time a lookup
    takes says nothing about how much of a guessed key was right; webhook tokens are compared
    with every configured token in constant time.
    """

    def __init__(self, settings: Settings):
        self.roles = {_digest(key): role for role, key in settings.keys}
        self.tokens = [t.encode() for t in settings.tokens]
        self.token_names = [name for name, _ in settings.named_tokens]
        self.networks = settings.allowed_networks
        self.metrics_open = settings.metrics_open

    @property
    def keys_required(self) -> bool:
        return bool(self.roles)

    def role_of(self, connection: ASGIConnection) -> str | None:
        """The role of the key the request presents (Bearer or X-API-Key), if it is known."""
        given = connection.headers.get("x-api-key")
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        if given is None and scheme.lower() == "bearer":
            given = credentials.strip()
        return self.role_for_key(given)

    def role_for_key(self, key: str | None) -> str | None:
        """The role of this API key, if it is a configured one."""
        return self.roles.get(_digest(key)) if key else None

    def token_matches(self, token: str) -> bool:
        return self.token_name(token) is not None

    def token_name(self, token: str) -> str | None:
        """The name of the configured token ``token`` is (None: none), compared with each."""
        given = token.encode()
        found = None
        for name, expected in zip(self.token_names, self.tokens, strict=True):
            if hmac.compare_digest(given, expected):
                found = name
        return found

    def sender_allowed(self, host: str | None) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _access(connection: ASGIConnection) -> Access:
    return connection.app.state.access


def requires(*roles: str) -> Guard:
    """A guard letting through keys of these roles (and admin keys) when keys are configured."""
    allowed = {*roles, ADMIN}

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        access = _access(connection)
        if not access.keys_required:
            return
        role = access.role_of(connection)
        if role is None:
            raise NotAuthorizedException(
                detail="an API key is needed: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if role not in allowed:
            raise PermissionDeniedException(
                detail=f"{article(role)} {role} key may not use this; it needs: "
                f"{' or '.join(sorted(allowed))}"
            )

    guard.__name__ = f"requires_{'_or_'.join(sorted(allowed))}"
    return guard


_admin_only = requires(ADMIN)


async def metrics_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """/metrics: open unless keys are configured and TRACKER_METRICS_OPEN is not set."""
    if not _access(connection).metrics_open:
        await _admin_only(connection, handler)


async def webhook_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The webhook: a sender outside TRACKER_WEBHOOK_ALLOW gets 403, a wrong token 404."""
    access = _access(connection)
    if not access.sender_allowed(connection.client.host if connection.client else None):
        raise PermissionDeniedException(detail="this sender's address may not post statuses")
    token = connection.path_params.get("token")
    if access.tokens and (token is None or not access.token_matches(token)):
        raise NotFoundException()


def article(word: str) -> str:
    """The article before ``word`` (an admin, an analyst, an auditor)."""
    return "an" if word[:1] in "aeiou" else "a"
