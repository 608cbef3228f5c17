"""The emulator calls upstream as the service does (UPSTREAM.md): templates, headers, signature,
bodies, completions back to the client, order per connection, and optional retries.

The upstream here is a small aiohttp app that records each request and answers as a test says;
signatures are recomputed with hmac, independently of the emulator's code.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from emu_support import ACCESS_KEY, RS, Clients, eventually

from bridge.emulator import EmulatorServer, UpstreamRetry, UpstreamSettings, UpstreamTemplate
from bridge.emulator.upstream import UpstreamSettingsError

pytestmark = pytest.mark.integration

Answer = Callable[[web.Request, bytes], Awaitable[web.Response]]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeUpstream:
    calls: list[Recorded] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)  # used in order, then 204
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append(Recorded(request.path_qs, dict(request.headers), json.loads(body)))
        if self.answers:
            return await self.answers.pop(0)(request, body)
        return web.Response(status=204)

    def events(self) -> list[str]:
        return [call.headers["X-ASRS-Event"] for call in self.calls]


def status(code: int, body: bytes = b"") -> Answer:
    async def answer(request: web.Request, received: bytes) -> web.Response:
        return web.Response(status=code, body=body)

    return answer


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def start_emulator(upstream: FakeUpstream) -> AsyncIterator[Callable[..., Awaitable[Clients]]]:
    servers: list[EmulatorServer] = []
    session = aiohttp.ClientSession()
    helpers: list[Clients] = []

    async def start(settings: UpstreamSettings | None = None) -> Clients:
        settings = settings or UpstreamSettings.everything_to(upstream.url + "/up/{hub}/{category}/{event}")
        server = EmulatorServer(access_key=ACCESS_KEY, test_hooks=True, upstream=settings)
        await server.start()
        servers.append(server)
        helpers.append(Clients(server, session))
        return helpers[-1]

    yield start
    for helper in helpers:
        await helper.close_all()
    for server in servers:
        await server.stop()
    await session.close()


def invocation(target: str, *arguments: Any, invocation_id: str | None = None) -> str:
    message: dict[str, Any] = {"type": 1, "target": target, "arguments": list(arguments)}
    if invocation_id is not None:
        message["invocationId"] = invocation_id
    return json.dumps(message) + RS


def expected_signature(connection_id: str) -> str:
    return "sha256=" + hmac.new(ACCESS_KEY.encode(), connection_id.encode(), hashlib.sha256).hexdigest()


async def test_connect_invoke_and_disconnect_are_posted_with_the_services_headers(
    start_emulator: Callable[..., Awaitable[Clients]], upstream: FakeUpstream
) -> None:
    clients = await start_emulator()
    client = await clients.connect("Chat", "ann")
    await client.ws.send_str(invocation("broadcast", "hi", {"n": 1}))
    await eventually(lambda: len(upstream.calls) >= 2)
    await client.ws.close()
    assert await eventually(lambda: len(upstream.calls) == 3)
    connected, message, disconnected = upstream.calls
    assert connected.path == "/up/chat/connections/connected"
    assert message.path == "/up/chat/messages/broadcast"
    for call in upstream.calls:
        headers = call.headers
        assert headers["X-ASRS-Connection-Id"] == client.connection_id
        assert headers["X-ASRS-Hub"] == "chat"
        assert headers["X-ASRS-User-Id"] == "ann"
        assert headers["X-ASRS-Signature"] == expected_signature(client.connection_id)
        assert "asrs.s.uid: ann" in headers["X-ASRS-User-Claims"]
        assert "exp:" not in headers["X-ASRS-User-Claims"]
        assert headers["X-ASRS-Client-Query"].startswith("?hub=Chat")
        assert headers["Content-Type"] == "application/json"
    assert [c.headers["X-ASRS-Category"] for c in upstream.calls] == [
        "connections",
        "messages",
        "connections",
    ]
    assert connected.body == {"type": 10}
    assert message.body == {"type": 1, "target": "broadcast", "arguments": ["hi", {"n": 1}]}
    assert disconnected.body == {"type": 11}


async def test_invoke_gets_the_upstream_completion_or_the_services_error(
    start_emulator: Callable[..., Awaitable[Clients]], upstream: FakeUpstream
) -> None:
    clients = await start_emulator()
    client = await clients.connect("chat", "ann")
    await eventually(lambda: len(upstream.calls) == 1)  # "connected" is answered by default
    framed = json.dumps({"type": 3, "invocationId": "1", "result": 42}).encode() + RS.encode()
    upstream.answers = [status(200, framed), status(204), status(200), status(503)]
    for number in range(1, 5):
        await client.ws.send_str(invocation("ask", number, invocation_id=str(number)))
    completions = [await client.next() for _ in range(4)]
    assert completions == [
        {"type": 3, "invocationId": "1", "result": 42},  # written to the client as upstream framed it
        {"type": 3, "invocationId": "2"},
        {"type": 3, "invocationId": "3"},
        {"type": 3, "invocationId": "4", "error": "Invocation failed, status code 503"},
    ]


async def test_one_connections_events_reach_upstream_one_at_a_time_in_order(
    start_emulator: Callable[..., Awaitable[Clients]], upstream: FakeUpstream
) -> None:
    clients = await start_emulator()
    client = await clients.connect("chat")
    await eventually(lambda: len(upstream.calls) == 1)
    release = asyncio.Event()

    async def slow(request: web.Request, body: bytes) -> web.Response:
        await release.wait()
        return web.Response(status=204)

    upstream.answers = [slow]  # the first invocation is slow
    await client.ws.send_str("".join(invocation("step", n) for n in range(3)))
    await eventually(lambda: len(upstream.calls) == 2)
    # A marker: another client's connect reaches upstream while step 0 is held; steps 1 and 2,
    # sent by the client before that connect, still have not.
    other = await clients.connect("chat")
    await eventually(lambda: len(upstream.calls) == 3)
    ours = [c for c in upstream.calls if c.headers["X-ASRS-Connection-Id"] == client.connection_id]
    assert [c.headers["X-ASRS-Connection-Id"] for c in upstream.calls][-1] == other.connection_id
    assert len(ours) == 2
    release.set()
    assert await eventually(lambda: len(upstream.calls) == 5)
    ours = [c for c in upstream.calls if c.headers["X-ASRS-Connection-Id"] == client.connection_id]
    assert [c.body["arguments"] for c in ours[1:]] == [[0], [1], [2]]


async def test_retries_are_off_by_default_and_follow_the_settings_when_on(
    start_emulator: Callable[..., Awaitable[Clients]], upstream: FakeUpstream
) -> None:
    url = upstream.url + "/up"
    clients = await start_emulator(UpstreamSettings.everything_to(url))
    client = await clients.connect("chat")
    await eventually(lambda: len(upstream.calls) == 1)
    upstream.answers = [status(503)]
    await client.ws.send_str(invocation("once", invocation_id="1"))
    assert (await client.next())["error"] == "Invocation failed, status code 503"
    assert upstream.events() == ["connected", "once"]

    upstream.calls.clear()
    retrying = UpstreamSettings.everything_to(url, retry=UpstreamRetry(max_attempts=3, delay_seconds=0.01))
    clients = await start_emulator(retrying)
    client = await clients.connect("chat")
    await eventually(lambda: len(upstream.calls) == 1)
    upstream.answers = [status(503), status(500), status(204)]
    await client.ws.send_str(invocation("again", invocation_id="1"))
    assert await client.next() == {"type": 3, "invocationId": "1"}
    assert upstream.events() == ["connected", "again", "again", "again"]
    assert clients.server.state()["upstream"] == {"204": 2, "500": 1, "503": 1, "retried": 2}


async def test_first_matching_template_wins_and_an_unmatched_invoke_fails(
    start_emulator: Callable[..., Awaitable[Clients]], upstream: FakeUpstream
) -> None:
    settings = UpstreamSettings.from_json(
        {
            "upstreamsettings": {  # keys are case-insensitive, as .NET reads settings.json
                "templates": [
                    {
                        "UrlTemplate": upstream.url + "/first/{event}",
                        "CategoryPattern": "messages",
                        "EventPattern": "a, b",
                    },
                    {"UrlTemplate": upstream.url + "/second/{event}", "EventPattern": "*"},
                ]
            }
        }
    )
    assert settings.templates[0] == UpstreamTemplate(
        upstream.url + "/first/{event}", None, "messages", "a, b"
    )
    clients = await start_emulator(UpstreamSettings(settings.templates[:1]))
    client = await clients.connect("chat")
    await client.ws.send_str(invocation("b", invocation_id="1") + invocation("c", invocation_id="2"))
    assert await client.next() == {"type": 3, "invocationId": "1"}
    assert await client.next() == {
        "type": 3,
        "invocationId": "2",
        "error": "Invocation failed, status code 404",
    }
    assert [c.path for c in upstream.calls] == ["/first/b"]  # connect matched no template either

    upstream.calls.clear()
    clients = await start_emulator(settings)
    client = await clients.connect("chat")
    await client.ws.send_str(invocation("a w/ space", invocation_id="1"))
    await client.next()
    assert [c.path for c in upstream.calls] == ["/second/connected", "/second/a%20w%2F%20space"]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"Templates": []},
        {"Templates": [{"UrlTemplate": "ftp://x"}]},
        {"Templates": [{"UrlTemplate": "http://x", "HubPattern": 1}]},
    ],
)
def test_unusable_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(UpstreamSettingsError):
        UpstreamSettings.from_json(settings)
