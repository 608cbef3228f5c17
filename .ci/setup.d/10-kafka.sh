#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars from Maven Central into the cache (no-op when cached).
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python deploy/local/kafka_broker.py fetch
