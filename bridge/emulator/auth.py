"""JWT validation as strict as the service (SIGNALR.md §2, §4).

Written independently of ``bridge.signalr.tokens`` on purpose: the emulator judges the
sender, so it must not share the sender's code.

Decisions where the digest says UNCONFIRMED or leaves room:

* ``exp`` and ``aud`` are required; ``exp`` is checked with no clock skew by default
  (ASP.NET allows 5 min; being stricter catches a sender that reuses tokens too long).
* ``iat``, ``nbf`` and ``iss`` are not checked (the SDK states the service ignores them).
* HS256 and HS512 are accepted (the SDK can sign both); ``none`` and every other
  algorithm are refused.
* REST ``aud`` must be ``{scheme}://{host}{path}`` of the request: no port, trailing
  ``/`` and percent-encoding are normalised, and a query in ``aud`` is ignored because
  the .NET SDK signs ``...?api-version=...`` and the service accepts it.
* Client ``aud`` must be ``{scheme}://{host}/client/?hub=<hub>`` with the requested hub
  (compared case-insensitively, as hubs are); other query parameters are ignored. Server
  connections' ``aud`` is the same with ``/server/`` (SERVICE-PROTOCOL.md §1).
* ``host`` may be the host the request was addressed to or the host of the emulator's
  own connection string (a sender that uses ``ServerEndpoint`` still signs for
  ``Endpoint``).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from jwt.warnings import InsecureKeyLengthWarning

ALGORITHMS = ["HS256", "HS512"]
USER_ID_CLAIMS = (
    "asrs.s.uid",
    "nameid",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
    "sub",
)


class AuthError(Exception):
    """The request is not authenticated; answered with 401 and ``WWW-Authenticate``."""

    def __init__(self, description: str | None, *, missing: bool = False) -> None:
        super().__init__(description or "missing token")
        self.description = description
        self.missing = missing

    @property
    def www_authenticate(self) -> str:
        if self.missing:
            return "Bearer"
        if self.description is None:
            return 'Bearer error="invalid_token"'
        return f'Bearer error="invalid_token", error_description="{self.description}"'


@dataclass(frozen=True)
class RequestTarget:
    """What the token must be issued for: the scheme and host the request reached."""

    scheme: str
    hosts: Collection[str]


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token from ``Authorization: Bearer`` or, for clients, ``access_token``."""
    header = headers.get("Authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return query.get("access_token") or None


class TokenValidator:
    def __init__(self, access_key: str, *, clock_skew_seconds: float = 0.0) -> None:
        self._key = access_key.encode("utf-8")
        self._skew = clock_skew_seconds

    def issue(self, claims: Mapping[str, Any]) -> str:
        """Sign a token with the AccessKey (``:generateToken``), as the service issues them."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            return jwt.encode(dict(claims), self._key, algorithm="HS256")

    def decode(self, token: str | None) -> dict[str, Any]:
        if token is None:
            raise AuthError(None, missing=True)
        try:
            with warnings.catch_warnings():
                # The key is whatever the user chose for local use; the service accepts its own keys.
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                claims: dict[str, Any] = jwt.decode(
                    token,
                    self._key,
                    algorithms=ALGORITHMS,
                    leeway=self._skew,
                    options={
                        "require": ["exp", "aud"],
                        "verify_aud": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                        "verify_iss": False,
                    },
                )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("The token is expired") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"The token has no '{exc.claim}' claim") from exc
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as exc:
            raise AuthError("The signature is invalid") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(None) from exc
        return claims

    def validate_rest(self, token: str | None, target: RequestTarget, path: str) -> dict[str, Any]:
        claims = self.decode(token)
        if not any(_rest_audience_ok(aud, target, path) for aud in _audiences(claims)):
            raise AuthError("The audience is invalid")
        return claims

    def validate_client(self, token: str | None, target: RequestTarget, hub: str) -> dict[str, Any]:
        claims = self.decode(token)
        if not any(_hub_audience_ok(aud, target, "/client", hub) for aud in _audiences(claims)):
            raise AuthError("The audience is invalid")
        return claims

    def validate_server(self, token: str | None, target: RequestTarget, hub: str) -> dict[str, Any]:
        """A server connection's token: ``aud`` = ``{scheme}://{host}/server/?hub=<hub>``."""
        claims = self.decode(token)
        if not any(_hub_audience_ok(aud, target, "/server", hub) for aud in _audiences(claims)):
            raise AuthError("The audience is invalid")
        return claims


def user_id_of(claims: Mapping[str, Any]) -> str | None:
    """The user id the service derives from a client token (first claim found wins)."""
    for name in USER_ID_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def _origin_ok(aud: str, target: RequestTarget) -> tuple[bool, str, str]:
    try:
        parts = urlsplit(aud)
        port = parts.port
    except ValueError:
        return False, "", ""
    ok = (
        parts.scheme.lower() == target.scheme.lower()
        and (parts.hostname or "") in {h.lower() for h in target.hosts}
        and port is None
    )
    return ok, parts.path, parts.query


def _rest_audience_ok(aud: str, target: RequestTarget, path: str) -> bool:
    ok, aud_path, _query = _origin_ok(aud, target)
    return ok and unquote(aud_path).rstrip("/") == unquote(path).rstrip("/")


def _hub_audience_ok(aud: str, target: RequestTarget, path: str, hub: str) -> bool:
    ok, aud_path, query = _origin_ok(aud, target)
    hubs = parse_qs(query).get("hub", [])
    return ok and aud_path.rstrip("/") == path and len(hubs) == 1 and hubs[0].lower() == hub.lower()
