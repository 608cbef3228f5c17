"""Routing: Kafka records in, SignalR actions out, as the config's routes say."""

from .errors import RoutingError, RoutingReason
from .record import Record
from .router import RoutedAction, Router, compile_routes

__all__ = ["Record", "RoutedAction", "Router", "RoutingError", "RoutingReason", "compile_routes"]
