"""Session-wide fixtures: one real Kafka broker per test run, unique names per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "local"))

from kafka_broker import KafkaBroker, SecureListeners  # deploy/local is not a package
from kafka_tls import PLAIN_USERS, SCRAM_USERS, BrokerTls, make_broker_tls


@pytest.fixture(scope="session")
def kafka_tls(tmp_path_factory: pytest.TempPathFactory) -> BrokerTls:
    return make_broker_tls(tmp_path_factory.mktemp("kafka-tls"))


@pytest.fixture(scope="session")
def kafka_broker(kafka_tls: BrokerTls) -> Iterator[KafkaBroker]:
    """A real Apache Kafka broker (KRaft) on free ports, started once, always stopped.

    Besides PLAINTEXT it listens with SSL and SASL_SSL (PLAIN, SCRAM-SHA-256/512) with a
    certificate made for this run (``kafka_tls.py``): one JVM serves every security test.
    Started lazily: a run that selects no Kafka test starts no JVM. An interrupted run
    cannot leave it behind: the broker dies with this process (PR_SET_PDEATHSIG), and the
    next run reaps any work dir whose owner is gone.
    """
    secure = SecureListeners(kafka_tls.keystore, plain_users=PLAIN_USERS, scram_users=SCRAM_USERS)
    broker = KafkaBroker(partitions=3, secure=secure)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def bootstrap_servers(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap_servers


class UniqueNames:
    """Topic names and group ids no other test (or earlier run) uses."""

    def __init__(self, test_name: str) -> None:
        self._stem = "".join(c if c.isalnum() else "-" for c in test_name)[:60]

    def topic(self, label: str = "t") -> str:
        return f"{self._stem}-{label}-{uuid.uuid4().hex[:8]}"

    def group(self, label: str = "g") -> str:
        return f"{self._stem}-{label}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> UniqueNames:
    return UniqueNames(request.node.name)
