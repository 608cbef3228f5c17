"""Routing: Kafka records in, SignalR actions out, as the config's routes say.

:func:`compile_routes` also runs the config's semantic checks (:mod:`bridge.routing.checks`).
"""

from .errors import RoutingError, RoutingReason
from .record import Record
from .requests import request_for
from .router import RoutedAction, Router, compile_routes

__all__ = [
    "Record",
    "RoutedAction",
    "Router",
    "RoutingError",
    "RoutingReason",
    "compile_routes",
    "request_for",
]
