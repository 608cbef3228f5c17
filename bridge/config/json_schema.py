"""The JSON Schema of the config file, for editors (``config/signalr-bridge.schema.json``).

Regenerate with ``signalr-bridge schema --output config/signalr-bridge.schema.json``; a
test fails when the committed file is stale.
"""

from __future__ import annotations

import json

from .schema import BridgeConfig

SCHEMA_ID = "https://github.com/signalr-bridge/signalr-bridge/config/signalr-bridge.schema.json"


def render_json_schema() -> str:
    schema = BridgeConfig.model_json_schema(mode="validation")
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
