"""The bridge over Kafka's SSL and SASL_SSL listeners, as users configure it, against a real broker.

The session broker (tests/conftest.py) listens with TLS (a certificate for 127.0.0.1 from a
CA made for this run) and with SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). Each case
runs `signalr-bridge run` through one of them with verification on: a record reaches a
SignalR client (the consumer's credentials work) and a record that cannot be routed reaches
the dead-letter topic (the producer's do too). Wrong credentials and a CA that did not sign
the broker's certificate fail with the cause named.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from e2e_support import HUB, BridgeProcess, HubListener, create_topic, jsonb, produce, read_topic
from kafka_broker import KafkaBroker
from kafka_tls import (
    EVENT_HUBS_CONNECTION_STRING,
    EVENT_HUBS_USER,
    PLAIN_PASSWORD,
    PLAIN_USER,
    SCRAM_PASSWORD,
    SCRAM_USER,
    BrokerTls,
)

pytestmark = pytest.mark.e2e

CONFIG = """
kafka:
  bootstrap_servers: {bootstrap}
  group_id: {group}
  start_from: earliest
  security:
{security}
{kafka_extra}
signalr:
  hub: {hub}
dead_letter:
  topic: {dlq}
observability:
  host: 127.0.0.1
  port: __METRICS_PORT__
routes:
  - name: secured
    topics: [{topic}]
    actions:
      - send: {{target: secured, userId: "{{value.to}}", arguments: ["{{value.text}}"]}}
"""


@dataclass(frozen=True)
class Case:
    listener: str  # "ssl" or "sasl_ssl"
    security: str  # the config's kafka.security section
    env: dict[str, str] = field(default_factory=dict)
    kafka_extra: str = ""


def sasl(mechanism: str, username: str, password_variable: str) -> str:
    return f"""    protocol: SASL_SSL
    sasl:
      mechanism: {mechanism}
      username: {username}
      password: ${{{password_variable}}}
    tls:
      ca_file: ${{KAFKA_CA_FILE}}"""


SCRAM_256 = Case(
    "sasl_ssl",
    sasl("SCRAM-SHA-256", SCRAM_USER, "KAFKA_SASL_PASSWORD"),
    {"KAFKA_SASL_PASSWORD": SCRAM_PASSWORD},
)
CASES = {
    "ssl": Case("ssl", "    protocol: SSL\n    tls:\n      ca_file: ${KAFKA_CA_FILE}"),
    "sasl-scram-sha-256": SCRAM_256,
    "sasl-scram-sha-512": Case(
        "sasl_ssl",
        sasl("SCRAM-SHA-512", SCRAM_USER, "KAFKA_SASL_PASSWORD"),
        {"KAFKA_SASL_PASSWORD": SCRAM_PASSWORD},
    ),
    "sasl-plain": Case(
        "sasl_ssl", sasl("PLAIN", PLAIN_USER, "KAFKA_SASL_PASSWORD"), {"KAFKA_SASL_PASSWORD": PLAIN_PASSWORD}
    ),
    # The shape of config/eventhubs.yaml: "$ConnectionString" stays literal, the password is the
    # namespace connection string from the environment, connections recycled before 240 s.
    "event-hubs-plain": Case(
        "sasl_ssl",
        sasl("PLAIN", EVENT_HUBS_USER, "EVENTHUBS_CONNECTION_STRING"),
        {"EVENTHUBS_CONNECTION_STRING": EVENT_HUBS_CONNECTION_STRING},
        "  metadata_max_age_ms: 180000\n  connections_max_idle_ms: 180000\n  request_timeout_ms: 60000",
    ),
}

StartBridge = Callable[..., BridgeProcess]


@pytest.fixture
def start_bridge(kafka_broker: KafkaBroker, kafka_tls: BrokerTls, bridges, unique) -> StartBridge:
    """``signalr-bridge run`` through ``case``'s listener, routing ``topic``, dead-lettering to ``dlq``."""

    def start(case: Case, topic: str, dlq: str, *, ca_file: Path | None = None, **env: str) -> BridgeProcess:
        servers = (
            kafka_broker.ssl_bootstrap_servers
            if case.listener == "ssl"
            else kafka_broker.sasl_ssl_bootstrap_servers
        )
        text = CONFIG.format(
            bootstrap=servers,
            group=unique.group(),
            security=case.security,
            kafka_extra=case.kafka_extra,
            hub=HUB,
            dlq=dlq,
            topic=topic,
        )
        ca = ca_file or kafka_tls.ca_file
        return bridges(text, {"KAFKA_CA_FILE": str(ca), **case.env, **env})

    return start


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bridge_consumes_and_dead_letters_over_a_secured_listener(
    case: Case, start_bridge: StartBridge, listener: HubListener, bootstrap_servers: str, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 1)
    bridge = start_bridge(case, topic, dlq)
    await produce(
        bootstrap_servers,
        topic,
        [(b"bad", jsonb({"text": "no recipient"})), (b"good", jsonb({"to": "watcher", "text": "hello"}))],
    )
    await bridge.wait_ready()
    assert await listener.wait_for(1) == [("secured", ["hello"])]
    (dead,) = await read_topic(bootstrap_servers, dlq, 1)
    assert dead.key == b"bad"
    assert dict(dead.headers)["bridge.error.reason"] == b"missing_field"


async def _wait_for_failure(bridge: BridgeProcess, cause: str, timeout: float = 60) -> None:
    """The log names ``cause``; meanwhile the bridge never became ready, or it exited non-zero."""
    assert bridge.process is not None
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while cause not in bridge.tail(400):
            assert time.monotonic() < deadline, f"no {cause!r} in the log after {timeout}s:\n{bridge.tail()}"
            if bridge.process.poll() is None:
                try:
                    ready = (await http.get(bridge.url + "/readyz")).status_code == 200
                except httpx.HTTPError:
                    ready = False
                assert not ready, f"the bridge became ready:\n{bridge.tail()}"
            await asyncio.sleep(0.2)
    assert bridge.process.poll() in (None, 1), bridge.tail()


async def test_a_wrong_password_fails_with_the_cause_named(start_bridge: StartBridge, unique) -> None:
    bridge = start_bridge(
        SCRAM_256, unique.topic(), unique.topic("dlq"), KAFKA_SASL_PASSWORD="not-the-password"
    )
    await _wait_for_failure(
        bridge,
        "Authentication failed during authentication due to invalid credentials "
        "with SASL mechanism SCRAM-SHA-256",
    )
    assert "not-the-password" not in bridge.tail(400)


async def test_a_ca_that_did_not_sign_the_broker_certificate_fails_with_the_cause_named(
    start_bridge: StartBridge, kafka_tls: BrokerTls, unique
) -> None:
    bridge = start_bridge(SCRAM_256, unique.topic(), unique.topic("dlq"), ca_file=kafka_tls.foreign_ca_file)
    await _wait_for_failure(bridge, "CERTIFICATE_VERIFY_FAILED")
