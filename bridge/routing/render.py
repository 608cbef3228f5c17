"""Evaluate compiled templates against one record's envelope.

Every failure becomes a :class:`RoutingError` with a stable reason; nothing else escapes.
Rules, chosen so a bad record is dead-lettered rather than delivered half-right:

- an expression that yields ``null`` where text is needed is ``missing_field``;
- text fields accept strings, numbers and booleans (``42`` becomes ``"42"``);
  objects are ``invalid_field``;
- fan-out fields (users, groups, connections, excluded) turn a list into one value
  per element (several lists: every combination); elsewhere a list is ``invalid_field``;
- arguments keep JSON types when a string is exactly one ``{expression}``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jmespath.exceptions

from .errors import RoutingError, RoutingReason
from .template import Expression, Template


@dataclass(frozen=True, slots=True)
class FieldContext:
    """Where a value is being rendered, for error messages."""

    route: str
    field: str

    def error(self, reason: RoutingReason, message: str) -> RoutingError:
        return RoutingError(reason, message, route=self.route, field=self.field)


def evaluate(expression: Expression, envelope: Mapping[str, Any], ctx: FieldContext) -> Any:
    try:
        return expression.search(envelope)
    # JMESPath functions raise their own errors on type mismatches; deeply nested values can
    # exhaust the stack in comparisons. Any of these means "this record breaks this expression".
    except (jmespath.exceptions.JMESPathError, TypeError, ValueError, RecursionError, OverflowError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ctx.error(
            RoutingReason.EXPRESSION_ERROR, f"expression {expression.source!r} failed: {message}"
        ) from None


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def render_text(template: Template, envelope: Mapping[str, Any], ctx: FieldContext) -> str:
    pieces: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        value = evaluate(part, envelope, ctx)
        if isinstance(value, list):
            raise ctx.error(
                RoutingReason.INVALID_FIELD,
                f"expression {part.source!r} gave a list; this field takes one value",
            )
        pieces.append(_scalar_text(part, value, ctx))
    return "".join(pieces)


def render_fanout(
    template: Template,
    envelope: Mapping[str, Any],
    ctx: FieldContext,
    *,
    limit: int,
    null_is_empty: bool = False,
) -> list[str]:
    """One string per combination of list elements (a template without lists gives one).

    With ``null_is_empty`` a template that is exactly one expression yielding ``null``
    gives no values (used for ``excluded``: no header means exclude nobody).
    """
    choices: list[Sequence[str]] = []
    for part in template.parts:
        if isinstance(part, str):
            choices.append((part,))
            continue
        value = evaluate(part, envelope, ctx)
        if value is None and null_is_empty and len(template.parts) == 1:
            return []
        if isinstance(value, list):
            choices.append([_scalar_text(part, item, ctx) for item in value])
        else:
            choices.append((_scalar_text(part, value, ctx),))
    count = math.prod(len(choice) for choice in choices)
    if count > limit:  # check before building: two 10k lists would make 100M strings
        raise ctx.error(
            RoutingReason.FANOUT_LIMIT, f"fans out to {count} values, more than max_fanout {limit}"
        )
    return ["".join(combo) for combo in itertools.product(*choices)]


def render_json(spec: Any, envelope: Mapping[str, Any], ctx: FieldContext) -> Any:
    """Render an argument: strings are templates, lists and objects are rendered recursively."""
    if isinstance(spec, Template):
        expression = spec.single_expression
        if expression is not None:
            return evaluate(expression, envelope, ctx)
        if spec.is_literal:
            return spec.literal
        return "".join(
            part if isinstance(part, str) else _json_text(part, evaluate(part, envelope, ctx), ctx)
            for part in spec.parts
        )
    if isinstance(spec, list | tuple):
        return [render_json(item, envelope, ctx) for item in spec]
    if isinstance(spec, Mapping):
        return {key: render_json(value, envelope, ctx) for key, value in spec.items()}
    return spec


def _scalar_text(part: Expression, value: Any, ctx: FieldContext) -> str:
    if value is None:
        raise ctx.error(RoutingReason.MISSING_FIELD, f"expression {part.source!r} matched nothing")
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    kind = "an object" if isinstance(value, dict) else "a list inside a list"
    raise ctx.error(RoutingReason.INVALID_FIELD, f"expression {part.source!r} gave {kind}; expected text")


def _json_text(part: Expression, value: Any, ctx: FieldContext) -> str:
    """Text embedded in an argument: scalars as text, lists and objects as compact JSON."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return _scalar_text(part, value, ctx)
