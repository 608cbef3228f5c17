"""Tokens the service accepts: right key bytes, audience, user claim, caching and Entra."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import jwt
import pytest

from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.errors import AuthError
from bridge.signalr.tokens import (
    ENTRA_SCOPE,
    AccessKeyTokenProvider,
    EntraTokenProvider,
    client_access,
    rest_token_provider,
    sign_access_token,
)

pytestmark = pytest.mark.unit

KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHMtbG9uZy1lbm91Z2g="  # base64 text: must be used as-is, not decoded


def decode(token: str, audience: str, key: str = KEY) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token, key.encode(), algorithms=["HS256"], audience=audience, options={"verify_exp": False}
    )
    return claims


def test_signed_with_the_utf8_bytes_of_the_key_not_its_base64_decoding() -> None:
    token = sign_access_token(KEY, "https://x/api/hubs/chat/:send", lifetime_seconds=60, now=1000.0)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(
        token,
        KEY.encode(),
        algorithms=["HS256"],
        audience="https://x/api/hubs/chat/:send",
        options={"verify_exp": False},
    )
    assert claims["exp"] == 1060
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, base64.b64decode(KEY), algorithms=["HS256"], options={"verify_aud": False})


def test_extra_claims_cannot_override_the_audience() -> None:
    token = sign_access_token(KEY, "https://x/a", claims={"aud": "https://evil/", "role": "r"})
    claims = decode(token, "https://x/a")
    assert claims["role"] == "r"


def test_client_access_uses_client_base_for_the_url_and_portless_audience() -> None:
    conn = parse_connection_string(
        f"Endpoint=http://localhost;Port=8888;AccessKey={KEY};ClientEndpoint=https://public.example"
    )
    url, token = client_access(conn, "Chat", user_id="alice")
    assert url == "https://public.example/client/?hub=chat"
    claims = decode(token, "http://localhost/client/?hub=chat")
    assert claims["asrs.s.uid"] == "alice"


def test_client_access_with_application_prefix() -> None:
    conn = parse_connection_string(f"Endpoint=https://x.example;AccessKey={KEY}")
    url, _ = client_access(conn, "Chat", application="Shop")
    assert url == "https://x.example/client/?hub=shop_chat"


def test_client_access_needs_an_access_key() -> None:
    conn = parse_connection_string("Endpoint=https://x.example;AuthType=azure")
    with pytest.raises(AuthError):
        client_access(conn, "chat")


async def test_rest_tokens_are_cached_per_audience_until_shortly_before_expiry() -> None:
    now = [1000.0]
    provider = AccessKeyTokenProvider(
        KEY, lifetime_seconds=600, refresh_margin_seconds=60, clock=lambda: now[0]
    )
    first = await provider.authorization("https://x/api/hubs/a/:send")
    assert first.startswith("Bearer ")
    assert await provider.authorization("https://x/api/hubs/a/:send") == first
    other = await provider.authorization("https://x/api/hubs/b/:send")
    assert decode(other.removeprefix("Bearer "), "https://x/api/hubs/b/:send", KEY) is not None
    now[0] += 539  # still more than the margin before expiry
    assert await provider.authorization("https://x/api/hubs/a/:send") == first
    now[0] += 2  # inside the refresh margin
    renewed = await provider.authorization("https://x/api/hubs/a/:send")
    assert renewed != first
    provider.invalidate("https://x/api/hubs/a/:send")
    now[0] += 1
    assert await provider.authorization("https://x/api/hubs/a/:send") != renewed


@dataclass
class FakeAccessToken:
    token: str
    expires_on: int


class FakeCredential:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str) -> FakeAccessToken:
        self.calls.append(scopes)
        return FakeAccessToken(f"entra-{len(self.calls)}", 2000)

    async def close(self) -> None:
        self.closed = True


async def test_entra_provider_asks_for_the_signalr_scope_and_caches_one_token() -> None:
    now = [1000.0]
    credential = FakeCredential()
    provider = EntraTokenProvider(credential, clock=lambda: now[0], refresh_margin_seconds=300)
    assert await provider.authorization("https://x/api/hubs/a/:send") == "Bearer entra-1"
    assert await provider.authorization("https://x/api/hubs/b/:send") == "Bearer entra-1"
    assert credential.calls == [(ENTRA_SCOPE,)]
    now[0] = 1701  # within 5 minutes of expires_on=2000
    assert await provider.authorization("https://x/api/hubs/a/:send") == "Bearer entra-2"
    await provider.aclose()
    assert credential.closed


async def test_entra_failure_becomes_auth_error_without_details() -> None:
    class Failing(FakeCredential):
        async def get_token(self, *scopes: str) -> FakeAccessToken:
            raise RuntimeError("client_secret=hunter2 rejected")

    provider = EntraTokenProvider(Failing())
    with pytest.raises(AuthError) as info:
        await provider.authorization("https://x/")
    assert "hunter2" not in str(info.value)


def test_provider_follows_the_auth_type() -> None:
    keyed = parse_connection_string(f"Endpoint=https://x.example;AccessKey={KEY}")
    assert isinstance(rest_token_provider(keyed), AccessKeyTokenProvider)
    entra = parse_connection_string("Endpoint=https://x.example;AuthType=azure")
    assert isinstance(rest_token_provider(entra, credential=FakeCredential()), EntraTokenProvider)


def test_missing_azure_identity_gives_an_install_hint() -> None:
    try:
        import azure.identity  # noqa: F401
    except ImportError:
        entra = parse_connection_string("Endpoint=https://x.example;AuthType=azure.msi")
        with pytest.raises(AuthError, match=r"signalr-bridge\[azure\]"):
            rest_token_provider(entra)
    else:
        pytest.skip("azure-identity is installed; the hint only matters without it")


class _Recorder:
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs


@pytest.mark.parametrize(
    ("text", "cls", "args", "kwargs"),
    [
        ("AuthType=azure;ClientId=mi", "DefaultAzureCredential", (), {"managed_identity_client_id": "mi"}),
        ("AuthType=azure.msi;ClientId=mi", "ManagedIdentityCredential", (), {"client_id": "mi"}),
        ("AuthType=azure.msi", "ManagedIdentityCredential", (), {"client_id": None}),
        (
            "AuthType=azure.app;ClientId=a;TenantId=t;ClientSecret=s",
            "ClientSecretCredential",
            ("t", "a", "s"),
            {},
        ),
        (
            "AuthType=azure.app;ClientId=a;TenantId=t;ClientCert=/c.pem",
            "CertificateCredential",
            ("t", "a"),
            {"certificate_path": "/c.pem"},
        ),
    ],
)
def test_each_auth_type_builds_its_azure_identity_credential(
    monkeypatch: pytest.MonkeyPatch, text: str, cls: str, args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    import sys
    import types

    aio = types.ModuleType("azure.identity.aio")
    for name in (
        "DefaultAzureCredential",
        "ManagedIdentityCredential",
        "ClientSecretCredential",
        "CertificateCredential",
    ):
        setattr(aio, name, type(name, (_Recorder,), {}))
    identity = types.ModuleType("azure.identity")
    identity.aio = aio  # type: ignore[attr-defined]
    azure = types.ModuleType("azure")
    azure.identity = identity  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure", azure)
    monkeypatch.setitem(sys.modules, "azure.identity", identity)
    monkeypatch.setitem(sys.modules, "azure.identity.aio", aio)

    from bridge.signalr.tokens import entra_credential

    credential = entra_credential(parse_connection_string(f"Endpoint=https://x.example;{text}"))
    assert type(credential).__name__ == cls
    assert isinstance(credential, _Recorder)
    assert (credential.args, credential.kwargs) == (args, kwargs)
