"""Certificates and SASL users for the test broker's SSL and SASL_SSL listeners, made per run.

A fresh CA signs the broker's certificate for 127.0.0.1 and localhost, so clients verify it
the way they verify a real broker (with the CA file, host name checked). A second CA that
signed nothing stands for "a CA the broker's certificate does not chain to".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization

SCRAM_USER, SCRAM_PASSWORD = "bridge-scram", "scram-secret"
PLAIN_USER, PLAIN_PASSWORD = "bridge-plain", "plain-secret"
# Azure Event Hubs' Kafka endpoint: SASL PLAIN, username "$ConnectionString", password the
# namespace connection string (with '=', ';' and '/' in it).
EVENT_HUBS_USER = "$ConnectionString"
EVENT_HUBS_CONNECTION_STRING = (
    "Endpoint=sb://bridge-test.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=c2lnbmFsci1icmlkZ2UtdGVzdC1rZXk+/=="
)
PLAIN_USERS = {PLAIN_USER: PLAIN_PASSWORD, EVENT_HUBS_USER: EVENT_HUBS_CONNECTION_STRING}
SCRAM_USERS = {SCRAM_USER: SCRAM_PASSWORD}


@dataclass(frozen=True)
class BrokerTls:
    ca_file: Path  # the CA that signed the broker's certificate
    keystore: Path  # the broker's PKCS#8 key and certificate chain (Kafka's PEM keystore)
    foreign_ca_file: Path  # a CA that did not sign it


def make_broker_tls(directory: Path) -> BrokerTls:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    # trustme writes "traditional" keys; Kafka's PEM keystore reads PKCS#8 only.
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tls = BrokerTls(directory / "ca.pem", directory / "broker-keystore.pem", directory / "foreign-ca.pem")
    tls.keystore.write_bytes(pkcs8 + b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(tls.ca_file))
    trustme.CA().cert_pem.write_to_path(str(tls.foreign_ca_file))
    return tls
