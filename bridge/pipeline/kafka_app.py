"""Build the faust App (Kafka consumer group, producer) from the ``kafka`` config section."""

from __future__ import annotations

import os
import ssl
import tempfile
from typing import Any

import faust

from bridge.config.environment import DATADIR_VAR
from bridge.config.schema import KafkaConfig, TlsConfig


def ssl_context(tls: TlsConfig | None) -> ssl.SSLContext:
    """A client TLS context that verifies the broker unless the config explicitly says not to."""
    context = ssl.create_default_context(cafile=tls.ca_file if tls else None)
    if tls is not None:
        if tls.cert_file is not None:
            password = tls.key_password.get_secret_value() if tls.key_password else None
            context.load_cert_chain(tls.cert_file, tls.key_file, password)
        if not tls.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return context


def credentials(kafka: KafkaConfig) -> Any:
    """faust credentials for the configured security protocol (None for PLAINTEXT)."""
    security = kafka.security
    if security.protocol == "PLAINTEXT":
        return None
    if security.protocol == "SSL":
        return faust.SSLCredentials(ssl_context(security.tls))
    assert security.sasl is not None  # the schema guarantees it for SASL_*
    return faust.SASLCredentials(
        username=security.sasl.username,
        password=security.sasl.password.get_secret_value(),
        mechanism=security.sasl.mechanism,
        # faust switches SASL_PLAINTEXT to SASL_SSL exactly when it gets an ssl_context.
        ssl_context=ssl_context(security.tls) if security.protocol == "SASL_SSL" else None,
    )


def aiokafka_security(kafka: KafkaConfig) -> dict[str, Any]:
    """The same security settings as keyword arguments for plain aiokafka clients (CLI tools)."""
    security = kafka.security
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(security.tls)
    if security.sasl is not None:
        options["sasl_mechanism"] = security.sasl.mechanism
        options["sasl_plain_username"] = security.sasl.username
        options["sasl_plain_password"] = security.sasl.password.get_secret_value()
    return options


def data_dir() -> str:
    """A fresh directory for faust inside ``$FAUST_DATADIR`` (else the system temp dir).

    A directory of its own rather than ``$FAUST_DATADIR`` itself: the service deletes it on
    stop, and must never empty a mounted volume that something else may share.
    """
    return tempfile.mkdtemp(prefix="signalr-bridge-faust-", dir=os.environ.get(DATADIR_VAR) or None)


def build_app(kafka: KafkaConfig) -> faust.App:
    settings: dict[str, Any] = {
        "broker": [f"kafka://{server}" for server in kafka.bootstrap_servers],
        "broker_client_id": kafka.client_id,
        "broker_credentials": credentials(kafka),
        "consumer_auto_offset_reset": kafka.start_from,
        # The bridge commits on its own schedule (BridgeService), so it can count real commits.
        "broker_commit_interval": 3600.0,
        "broker_commit_every": 1_000_000_000,
        "processing_guarantee": "at_least_once",
        # The bridge keeps no tables: no leader topic, no changelogs, no standby replicas,
        # which also selects aiokafka's round-robin assignor across replicas.
        "topic_disable_leader": True,
        "table_standby_replicas": 0,
        "store": "memory://",
        "datadir": data_dir(),
        # The bridge serves its own /metrics, /healthz and /readyz.
        "web_enabled": False,
        # Revocation must not wait for deliveries stuck behind an outage: acks of revoked
        # partitions are dropped instead and the new owner redelivers them (duplicates, no loss).
        "stream_wait_empty": False,
    }
    # A routed topic created after start is noticed within this time (faust's default is 5 min).
    metadata_max_age_ms = kafka.metadata_max_age_ms or 60_000
    settings["consumer_metadata_max_age_ms"] = metadata_max_age_ms
    settings["producer_metadata_max_age_ms"] = metadata_max_age_ms
    if kafka.connections_max_idle_ms is not None:
        settings["consumer_connections_max_idle_ms"] = kafka.connections_max_idle_ms
        settings["producer_connections_max_idle_ms"] = kafka.connections_max_idle_ms
    if kafka.session_timeout_ms is not None:
        settings["broker_session_timeout"] = kafka.session_timeout_ms / 1000
    if kafka.request_timeout_ms is not None:
        settings["broker_request_timeout"] = kafka.request_timeout_ms / 1000
        settings["producer_request_timeout"] = kafka.request_timeout_ms / 1000
    return faust.App(kafka.group_id, **settings)
