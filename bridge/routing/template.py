"""Field templates: a literal, a JMESPath expression in braces, or text that embeds expressions.

``"newMessage"`` is a literal; ``"{value.roomId}"`` is one expression whose result keeps
its JSON type; ``"room-{value.roomId}"`` is text with an embedded expression. ``{{`` and
``}}`` are literal braces. Braces inside an expression (JMESPath multi-select hashes,
quoted identifiers, raw strings, backtick JSON literals) are matched, so
``"{ {id: value.id} }"`` is one expression.

Everything is parsed up front: unknown JMESPath functions and wrong argument counts are
reported when the config is loaded, not when a record arrives.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.functions
import jmespath.visitor

_FUNCTIONS: Mapping[str, Any] = jmespath.functions.Functions().FUNCTION_TABLE
_QUOTES = {"'", '"', "`"}


class TemplateSyntaxError(ValueError):
    """A template or expression cannot be parsed; the message says where and why."""


# One interpreter for all searches: it keeps no per-call state, and building one per call
# (what ParsedResult.search does) costs about as much as evaluating a short path.
_INTERPRETER = jmespath.visitor.TreeInterpreter()


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    parsed: Any = field(repr=False, compare=False)  # jmespath ParsedResult (untyped library)
    path: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    """Set when the expression is a plain field path (``value.roomId``): evaluated by dict lookups."""

    def search(self, data: Any) -> Any:
        if self.path is None:
            return _INTERPRETER.visit(self.parsed.parsed, data)
        for name in self.path:
            if not isinstance(data, dict):
                return None  # JMESPath: a field of a non-object is null
            data = data.get(name)
        return data


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    parts: tuple[str | Expression, ...]

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def single_expression(self) -> Expression | None:
        """The expression when the template is exactly one ``{...}`` and nothing else."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Expression):
            return self.parts[0]
        return None

    @property
    def literal(self) -> str:
        return "".join(p for p in self.parts if isinstance(p, str))


def compile_expression(source: str) -> Expression:
    """Parse a JMESPath expression and check its function calls."""
    text = source.strip()
    if not text:
        raise TemplateSyntaxError("empty expression")
    try:
        parsed = jmespath.compile(text)
    except jmespath.exceptions.JMESPathError as exc:
        raise TemplateSyntaxError(f"invalid expression {text!r}: {_describe_parse_error(exc)}") from None
    for name, argc in _function_calls(parsed.parsed):
        _check_function(text, name, argc)
    return Expression(text, parsed, _field_path(parsed.parsed))


def parse_template(text: str) -> Template:
    """Split ``text`` into literal text and compiled ``{expression}`` parts."""
    parts: list[str | Expression] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif char == "{":
            end = _matching_brace(text, i)
            inner = text[i + 1 : end]
            if not inner.strip():
                raise TemplateSyntaxError(f"empty expression '{{}}' at column {i + 1}")
            if literal:
                parts.append("".join(literal))
                literal.clear()
            parts.append(compile_expression(inner))
            i = end + 1
        elif char == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif char == "}":
            raise TemplateSyntaxError(f"unmatched '}}' at column {i + 1} (write '}}}}' for a literal brace)")
        else:
            literal.append(char)
            i += 1
    if literal or not parts:
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char in _QUOTES:
            i = _skip_quoted(text, i)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise TemplateSyntaxError(f"unclosed '{{' at column {start + 1} (write '{{{{' for a literal brace)")


def _skip_quoted(text: str, start: int) -> int:
    """Index just past the quoted span opened at ``start`` (backslash escapes the quote)."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise TemplateSyntaxError(f"unclosed {quote} at column {start + 1}")


def _describe_parse_error(exc: jmespath.exceptions.JMESPathError) -> str:
    if isinstance(exc, jmespath.exceptions.LexerError):
        return f"{exc.message} at column {exc.lexer_position + 1}"
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
        return "the expression is incomplete"
    if isinstance(exc, jmespath.exceptions.ParseError):
        if exc.token_type == "EOF":  # noqa: S105 - a token kind, not a password
            return "the expression ends too early"
        return f"unexpected {exc.token_value!r} at column {exc.lex_position + 1}"
    return str(exc).splitlines()[0]


def _field_path(node: Any) -> tuple[str, ...] | None:
    if node.get("type") == "field":
        return (node["value"],)
    if node.get("type") == "subexpression":
        parts = [_field_path(child) for child in node["children"]]
        if all(part is not None for part in parts):
            return tuple(name for part in parts if part is not None for name in part)
    return None


def _function_calls(node: Any) -> Iterator[tuple[str, int]]:
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            yield node["value"], len(node.get("children", ()))
        for child in node.get("children", ()):
            yield from _function_calls(child)


def _check_function(expression: str, name: str, argc: int) -> None:
    entry = _FUNCTIONS.get(name)
    if entry is None:
        raise TemplateSyntaxError(f"invalid expression {expression!r}: unknown function {name}()")
    signature = entry["signature"]
    variadic = bool(signature) and bool(signature[-1].get("variadic"))
    expected = len(signature)
    if (variadic and argc < expected) or (not variadic and argc != expected):
        at_least = "at least " if variadic else ""
        raise TemplateSyntaxError(
            f"invalid expression {expression!r}: {name}() takes {at_least}{expected} "
            f"argument{'s' if expected != 1 else ''}, got {argc}"
        )
