"""``signalr-bridge token``: what a serverless negotiate function returns to a client.

Prints ``{"url": ..., "accessToken": ...}`` (the job of the Azure Functions SignalR input
binding), valid for the emulator and for a real service alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bridge.signalr.connection_string import DEFAULT_ENV_VAR, parse_connection_string
from bridge.signalr.errors import AuthError, ConnectionStringError
from bridge.signalr.tokens import DEFAULT_LIFETIME_SECONDS, client_access

HELP = "print the client URL and access token a negotiate function returns"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "token",
        help=HELP,
        description="Print {url, accessToken} for a client of HUB, as a serverless negotiate function does.",
    )
    parser.add_argument(
        "--connection-string",
        help=f"service connection string (default: environment variable {DEFAULT_ENV_VAR})",
    )
    parser.add_argument("--hub", required=True, help="hub the client connects to")
    parser.add_argument("--user", help="user id carried by the token (asrs.s.uid)")
    parser.add_argument("--application", help="application prefix of the hub (hub becomes app_hub)")
    parser.add_argument(
        "--lifetime", type=float, default=DEFAULT_LIFETIME_SECONDS, help="token lifetime, seconds"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    text = args.connection_string or os.environ.get(DEFAULT_ENV_VAR)
    if not text:
        print(f"signalr-bridge token: give --connection-string or set {DEFAULT_ENV_VAR}", file=sys.stderr)
        return 2
    if args.lifetime <= 0:
        print("signalr-bridge token: --lifetime must be positive", file=sys.stderr)
        return 2
    try:
        conn = parse_connection_string(text)
        url, token = client_access(
            conn, args.hub, user_id=args.user, lifetime_seconds=args.lifetime, application=args.application
        )
    except (ConnectionStringError, AuthError, ValueError) as exc:
        print(f"signalr-bridge token: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"url": url, "accessToken": token}))
    return 0
