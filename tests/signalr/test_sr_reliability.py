"""Retries, throttling and permanent failures over real HTTP (emulator faults and a loopback sink)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from sr_helpers import FAST_RETRY, Sink

from bridge.emulator import EmulatorServer
from bridge.signalr import CountingObserver, Outcome, RetryPolicy, SignalRClient
from bridge.signalr.actions import RemoveUserFromGroup, SendToAll, SendToUser
from bridge.signalr.connection_string import parse_connection_string

pytestmark = pytest.mark.integration


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met")


async def inject(emulator: EmulatorServer, **fault: object) -> None:
    """Through the emulator's HTTP hook, as an external test would."""
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{emulator.base_url}/_emulator/faults", json=fault)
        response.raise_for_status()


async def test_503s_are_retried_until_delivered(
    client: SignalRClient, emulator: EmulatorServer, observer: CountingObserver
) -> None:
    await inject(emulator, count=2, status=503)
    result = await client.deliver(SendToAll(target="t"))
    assert result.outcome is Outcome.DELIVERED
    assert result.attempts == 3
    assert emulator.state()["requests"] == {"202": 1, "503": 2}
    assert sum(n for (_, reason), n in observer.retries.items() if reason == "server-error") == 2


async def test_dropped_connections_are_retried(client: SignalRClient, emulator: EmulatorServer) -> None:
    await inject(emulator, count=2, drop=True)
    result = await client.deliver(RemoveUserFromGroup(user_id="u", group="g"))
    assert result.ok
    # aiohttp itself may re-send an idempotent DELETE once on a reused connection.
    assert result.attempts >= 2
    assert emulator.state()["requests"]["dropped"] == 2


async def test_dropped_sends_are_retried_at_least_once(
    client: SignalRClient, emulator: EmulatorServer
) -> None:
    await inject(emulator, count=2, drop=True)
    result = await client.deliver(SendToAll(target="t"))
    assert result.ok
    assert result.attempts == 3
    assert emulator.state()["requests"] == {"202": 1, "dropped": 2}


async def test_dropped_send_is_not_retried_when_at_most_once(emulator: EmulatorServer) -> None:
    async with SignalRClient(
        emulator.connection_string, hub="chat", retry_ambiguous_sends=False, health_interval=None
    ) as c:
        assert (await c.deliver(SendToAll(target="warm-up"))).ok  # the drop then hits a live connection
        await inject(emulator, count=1, drop=True)
        result = await c.deliver(SendToAll(target="t"))
    assert (result.outcome, result.reason, result.attempts) == (Outcome.FAILED_PERMANENT, "ambiguous", 1)


async def test_timeouts_are_retried(emulator: EmulatorServer) -> None:
    await inject(emulator, count=1, latency_ms=3000)
    async with SignalRClient(
        emulator.connection_string,
        hub="chat",
        retry=FAST_RETRY,
        timeout=httpx.Timeout(0.3),
        health_interval=None,
    ) as client:
        result = await client.deliver(SendToAll(target="t"))
    assert result.ok
    assert result.attempts == 2
    assert result.endpoints[0].verdict.reason == "ok"


async def test_permanent_failures_are_not_retried(client: SignalRClient, emulator: EmulatorServer) -> None:
    await inject(emulator, count=3, status=400, error_code="Error.Bad.Request")
    result = await client.deliver(SendToAll(target="t"))
    assert result.outcome is Outcome.FAILED_PERMANENT
    assert result.attempts == 1
    assert result.status == 400
    assert "HTTP 400" in result.detail
    assert emulator.state()["requests"] == {"400": 1}


async def test_retries_stop_at_max_attempts_and_report_transient(emulator: EmulatorServer) -> None:
    await inject(emulator, count=50, status=503)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
    async with SignalRClient(emulator.connection_string, hub="chat", retry=policy, health_interval=None) as c:
        result = await c.deliver(SendToAll(target="t"))
    assert result.outcome is Outcome.FAILED_TRANSIENT
    assert result.attempts == 3
    assert result.status == 503


async def test_a_caller_deadline_bounds_the_retries(emulator: EmulatorServer) -> None:
    await inject(emulator, count=1000, status=503)
    policy = RetryPolicy(max_attempts=1000, base_delay=0.05, max_delay=0.05)
    async with SignalRClient(emulator.connection_string, hub="chat", retry=policy, health_interval=None) as c:
        result = await c.deliver(SendToAll(target="t"), within=0.5)
    assert result.outcome is Outcome.FAILED_TRANSIENT
    assert 1 < result.attempts < 1000


async def test_500_on_a_send_is_not_retried_when_at_most_once(emulator: EmulatorServer) -> None:
    await inject(emulator, count=1, status=500)
    async with SignalRClient(
        emulator.connection_string, hub="chat", retry_ambiguous_sends=False, health_interval=None
    ) as c:
        result = await c.deliver(SendToAll(target="t"))
    assert (result.outcome, result.reason, result.attempts) == (Outcome.FAILED_PERMANENT, "ambiguous", 1)


async def test_429_retry_after_pauses_the_whole_endpoint(
    client: SignalRClient, emulator: EmulatorServer, observer: CountingObserver
) -> None:
    await inject(emulator, count=1, status=429, retry_after=0.6)
    started = time.monotonic()
    first = asyncio.create_task(client.deliver(SendToAll(target="first")))
    await wait_until(lambda: bool(observer.throttles))
    # A second, independent send arrives while the endpoint is paused: it waits too.
    paused = client.endpoint_status()[next(iter(client.endpoint_status()))]["paused_for"]
    assert isinstance(paused, float)
    assert paused > 0
    second_started = time.monotonic()
    second = await client.deliver(SendToAll(target="second"))
    second_waited = time.monotonic() - second_started
    first_result = await first
    assert first_result.ok
    assert second.ok
    assert first_result.attempts == 2
    assert time.monotonic() - started >= 0.6
    assert second_waited >= paused - 0.05
    _endpoint, limit, pause = observer.throttles[0]
    assert pause == pytest.approx(0.6)
    assert limit < 128  # the concurrency limit was cut


async def test_access_key_auth_header(sink: Sink) -> None:
    async with SignalRClient(sink.connection_string, hub="Chat", health_interval=None) as c:
        await c.deliver(SendToUser(target="t", user_id="u 1"))
    request = sink.requests[0]
    scheme, token = request.headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    key = parse_connection_string(sink.connection_string).access_key
    assert key is not None
    claims = jwt.decode(
        token, key.encode(), algorithms=["HS256"], audience="http://127.0.0.1/api/hubs/chat/users/u%201/:send"
    )
    assert claims["exp"] > time.time()
    assert request.headers["Content-Type"] == "application/json"
    assert request.path_qs == "/api/hubs/chat/users/u%201/:send?api-version=2022-06-01"


async def test_entra_auth_header(sink: Sink) -> None:
    class Credential:
        async def get_token(self, *scopes: str) -> object:
            assert scopes == ("https://signalr.azure.com/.default",)
            return type("T", (), {"token": "entra-token", "expires_on": time.time() + 3600})()

        async def close(self) -> None:
            pass

    conn = sink.connection_string.replace("AccessKey=", "AuthType=azure;Ignored=")
    async with SignalRClient(conn, hub="chat", credential=Credential(), health_interval=None) as c:
        result = await c.deliver(SendToAll(target="t"))
    assert result.ok
    assert sink.requests[0].headers["Authorization"] == "Bearer entra-token"


async def test_401_re_mints_the_token_once_then_fails(sink: Sink) -> None:
    sink.default_status = 401
    async with SignalRClient(sink.connection_string, hub="chat", health_interval=None) as c:
        result = await c.deliver(SendToAll(target="t"))
    assert (result.outcome, result.reason, result.attempts) == (Outcome.FAILED_PERMANENT, "unauthorized", 2)
    assert len(sink.requests) == 2


async def test_429_without_retry_after_uses_a_default_pause(sink: Sink) -> None:
    sink.script = [(429, {"x-ms-error-code": "Error.Quota"})]
    observer = CountingObserver()
    async with SignalRClient(
        sink.connection_string, hub="chat", observer=observer, health_interval=None
    ) as c:
        result = await c.deliver(SendToAll(target="t"))
    assert result.ok
    assert observer.throttles[0][2] == 1.0


async def test_entra_outage_is_retried_without_leaking_details(sink: Sink) -> None:
    class FlakyCredential:
        calls = 0

        async def get_token(self, *scopes: str) -> object:
            FlakyCredential.calls += 1
            if FlakyCredential.calls == 1:
                raise ConnectionError("login.microsoftonline.com unreachable, secret=hunter2")
            return type("T", (), {"token": "entra-token", "expires_on": time.time() + 3600})()

        async def close(self) -> None:
            pass

    conn = sink.connection_string.replace("AccessKey=", "AuthType=azure;Ignored=")
    async with SignalRClient(
        conn, hub="chat", credential=FlakyCredential(), retry=FAST_RETRY, health_interval=None
    ) as c:
        result = await c.deliver(SendToAll(target="t"))
    assert result.ok
    assert result.attempts == 2
    assert len(sink.requests) == 1
    assert "hunter2" not in repr(result)


async def test_a_retry_after_beyond_the_policy_gives_up_at_once(sink: Sink) -> None:
    sink.script = [(429, {"Retry-After": "120"})]
    policy = RetryPolicy(max_retry_after=30)
    async with SignalRClient(sink.connection_string, hub="chat", retry=policy, health_interval=None) as c:
        result = await c.deliver(SendToAll(target="t"))
        status = c.endpoint_status()
    assert (result.outcome, result.reason, result.attempts) == (Outcome.FAILED_TRANSIENT, "throttled", 1)
    paused_for = next(iter(status.values()))["paused_for"]
    assert isinstance(paused_for, float)
    assert paused_for > 60  # the endpoint stays paused for everyone else
