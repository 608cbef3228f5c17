"""Session-wide fixtures: one real Kafka broker per test run, unique names per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "local"))

from kafka_broker import KafkaBroker  # deploy/local is not a package


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A real Apache Kafka broker (KRaft) on a free port, started once, always stopped.

    Started lazily: a run that selects no Kafka test starts no JVM. An interrupted run
    cannot leave it behind: the broker dies with this process (PR_SET_PDEATHSIG), and the
    next run reaps any work dir whose owner is gone.
    """
    broker = KafkaBroker(partitions=3)
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
