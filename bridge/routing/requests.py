"""The REST request a routed action becomes under the config's ``signalr`` section (dry runs).

The one place that applies the section's hub, api-version and application to an action
outside the client (``signalr-bridge route``, ``dlq replay --dry-run``); the client applies
the same three itself when it delivers.
"""

from __future__ import annotations

from bridge.config.schema import SignalRConfig
from bridge.signalr.actions import Action
from bridge.signalr.requests import RestRequest, build_request


def request_for(signalr: SignalRConfig, action: Action) -> RestRequest:
    """The request for ``action``; raises ``PreflightError`` where the client would."""
    return build_request(
        action, hub=signalr.hub, api_version=signalr.api_version, application=signalr.application
    )
