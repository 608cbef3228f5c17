"""Tokens for REST calls and for clients (SIGNALR.md §2, §4).

* AccessKey auth: HS256 JWTs signed with the UTF-8 bytes of the AccessKey as
  written (never base64-decoded). REST tokens carry ``aud`` = the request URL
  without query and without trailing slash, built on the audience base (no port):
  the documented form, which the service checks.
* Entra auth (``AuthType=azure*``): the Entra access token for
  ``https://signalr.azure.com/.default`` from azure-identity (optional extra
  ``signalr-bridge[azure]``), imported only when such a connection string is used.

Both providers cache tokens and refresh them shortly before they expire.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jwt

from .connection_string import ConnectionString
from .errors import AuthError
from .extras import missing_dependency
from .names import check_hub, check_user

ENTRA_SCOPE = "https://signalr.azure.com/.default"
USER_ID_CLAIM = "asrs.s.uid"  # what the SDK emits; the emulator and service read it first
ISSUER = "azure-signalr"  # the SDK's iss; the service does not validate it
DEFAULT_LIFETIME_SECONDS = 3600.0
MAX_TOKEN_LENGTH = 4096  # the SDK refuses longer tokens; browsers cap an HTTP/2 header at 4K

Clock = Callable[[], float]


def sign_access_token(
    access_key: str,
    audience: str,
    *,
    lifetime_seconds: float = DEFAULT_LIFETIME_SECONDS,
    claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """Return an HS256 JWT for ``audience``; ``claims`` are added (and may not override aud/exp)."""
    issued = time.time() if now is None else now
    payload: dict[str, Any] = dict(claims or {})
    payload.update({"aud": audience, "iat": int(issued), "exp": int(issued + lifetime_seconds)})
    token = jwt.encode(payload, access_key.encode("utf-8"), algorithm="HS256")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthError(f"token is {len(token)} characters, over the {MAX_TOKEN_LENGTH} limit: fewer claims")
    return token


def client_hub_name(hub: str, application: str | None = None) -> str:
    """The hub name clients use in ``?hub=``: lower-cased, ``{application}_{hub}`` when prefixed."""
    name = check_hub(hub)
    if application:
        return f"{check_hub(application, what='application')}_{name}"
    return name


def client_access(
    conn: ConnectionString,
    hub: str,
    *,
    user_id: str | None = None,
    lifetime_seconds: float = DEFAULT_LIFETIME_SECONDS,
    application: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """Return ``(url, access_token)`` of a serverless negotiate redirect for ``hub``.

    ``url`` is built on the client base (``ClientEndpoint`` or ``Endpoint``+``Port``);
    the token's ``aud`` is the same path and query on the audience base, without a port,
    as the SDK signs it.
    """
    if conn.access_key is None:
        raise AuthError(
            "client tokens need an AccessKey; with AuthType=azure* fetch a key from the service first"
        )
    suffix = f"client/?hub={client_hub_name(hub, application)}"
    extra: dict[str, Any] = dict(claims or {})
    if user_id is not None:
        extra[USER_ID_CLAIM] = check_user(user_id)
    token = sign_access_token(
        conn.access_key, conn.audience_base + suffix, lifetime_seconds=lifetime_seconds, claims=extra
    )
    return f"{conn.client_base}/{suffix}", token


class RestTokenProvider(Protocol):
    """Gives the ``Authorization`` header value for a REST call to ``audience``."""

    async def authorization(self, audience: str) -> str: ...

    def invalidate(self, audience: str) -> None:
        """Forget a cached token (after a 401) so the next call mints a fresh one."""

    async def aclose(self) -> None: ...


class AccessKeyTokenProvider:
    """HS256 REST tokens per audience, cached (bounded LRU) until ``refresh_margin`` before expiry."""

    def __init__(
        self,
        access_key: str,
        *,
        lifetime_seconds: float = DEFAULT_LIFETIME_SECONDS,
        refresh_margin_seconds: float = 300.0,
        max_cached: int = 4096,
        clock: Clock = time.time,
    ) -> None:
        if refresh_margin_seconds >= lifetime_seconds:
            raise ValueError("refresh margin must be shorter than the token lifetime")
        self._key = access_key
        self._lifetime = lifetime_seconds
        self._margin = refresh_margin_seconds
        self._max = max_cached
        self._clock = clock
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __repr__(self) -> str:
        return f"AccessKeyTokenProvider(cached={len(self._cache)})"

    def token(self, audience: str) -> str:
        now = self._clock()
        hit = self._cache.get(audience)
        if hit is not None and now < hit[1] - self._margin:
            self._cache.move_to_end(audience)
            return hit[0]
        token = sign_access_token(self._key, audience, lifetime_seconds=self._lifetime, now=now)
        self._cache[audience] = (token, now + self._lifetime)
        self._cache.move_to_end(audience)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return token

    async def authorization(self, audience: str) -> str:
        return f"Bearer {self.token(audience)}"

    def invalidate(self, audience: str) -> None:
        self._cache.pop(audience, None)

    async def aclose(self) -> None:
        self._cache.clear()


class AsyncTokenCredential(Protocol):
    """The part of ``azure.core.credentials_async.AsyncTokenCredential`` used here."""

    async def get_token(self, *scopes: str) -> Any: ...

    async def close(self) -> None: ...


class EntraTokenProvider:
    """One Entra token for every audience (scope ``https://signalr.azure.com/.default``), refreshed early."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        scope: str = ENTRA_SCOPE,
        refresh_margin_seconds: float = 300.0,
        clock: Clock = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._margin = refresh_margin_seconds
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"EntraTokenProvider(scope={self._scope!r})"

    async def authorization(self, audience: str) -> str:
        if self._token is None or self._clock() >= self._expires_on - self._margin:
            async with self._lock:  # one refresh for all concurrent senders
                if self._token is None or self._clock() >= self._expires_on - self._margin:
                    try:
                        access = await self._credential.get_token(self._scope)
                    except Exception as exc:
                        # Class name only: credential errors can quote request details.
                        raise AuthError(
                            f"Entra token request failed: {type(exc).__name__}", transient=True
                        ) from exc
                    self._token = str(access.token)
                    self._expires_on = float(access.expires_on)
        return f"Bearer {self._token}"

    def invalidate(self, audience: str) -> None:
        self._token = None

    async def aclose(self) -> None:
        await self._credential.close()


def entra_credential(conn: ConnectionString) -> AsyncTokenCredential:
    """Build the azure-identity async credential that ``conn.auth_type`` names."""
    missing = missing_dependency(conn)
    if missing is not None:
        raise AuthError(missing)
    from azure.identity import aio as identity  # noqa: PLC0415 - optional extra, imported on use

    credential: AsyncTokenCredential
    if conn.auth_type == "azure.app":
        if conn.client_secret is not None:
            credential = identity.ClientSecretCredential(conn.tenant_id, conn.client_id, conn.client_secret)
        else:
            credential = identity.CertificateCredential(
                conn.tenant_id, conn.client_id, certificate_path=conn.client_cert
            )
    elif conn.auth_type == "azure.msi":
        credential = identity.ManagedIdentityCredential(client_id=conn.client_id)
    else:
        credential = identity.DefaultAzureCredential(managed_identity_client_id=conn.client_id)
    return credential


def rest_token_provider(
    conn: ConnectionString, *, credential: AsyncTokenCredential | None = None
) -> RestTokenProvider:
    """The provider ``conn`` calls for: Entra when ``AuthType`` is set, else the AccessKey."""
    if conn.uses_entra:
        return EntraTokenProvider(credential or entra_credential(conn))
    assert conn.access_key is not None  # parse_connection_string guarantees one of the two
    return AccessKeyTokenProvider(conn.access_key)


__all__ = [
    "ENTRA_SCOPE",
    "USER_ID_CLAIM",
    "AccessKeyTokenProvider",
    "EntraTokenProvider",
    "RestTokenProvider",
    "client_access",
    "client_hub_name",
    "entra_credential",
    "rest_token_provider",
    "sign_access_token",
]
