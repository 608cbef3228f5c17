"""The one exception routing raises for a record it cannot route.

``reason`` is a short, stable code (a metric label and the dead-letter reason);
the message is for humans and names the route and the field.
"""

from __future__ import annotations

from enum import StrEnum


class RoutingReason(StrEnum):
    DECODE_ERROR = "decode_error"  # the value is not valid JSON / UTF-8 for the route's value_format
    MISSING_FIELD = "missing_field"  # an expression matched nothing (null) where a value is required
    INVALID_FIELD = "invalid_field"  # a value has the wrong type or breaks a SignalR name rule
    EXPRESSION_ERROR = "expression_error"  # a JMESPath function failed on this record (e.g. a type error)
    FANOUT_LIMIT = "fanout_limit"  # one action fanned out to more than the route's max_fanout


class RoutingError(Exception):
    """A record that matched a route but cannot be turned into SignalR actions."""

    def __init__(
        self, reason: RoutingReason, message: str, *, route: str | None = None, field: str | None = None
    ) -> None:
        self.reason = reason
        self.route = route
        self.field = field
        self.detail = message
        where = []
        if route is not None:
            where.append(f'route "{route}"')
        if field is not None:
            where.append(f'field "{field}"')
        super().__init__(": ".join([*where, message]))
