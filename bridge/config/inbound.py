"""The ``upstream`` section: the receiver for the service's upstream webhooks and its inbound routes.

Pure models: names, patterns and limits are checked here; templates, expressions and hub
names are checked by ``bridge.routing.inbound`` (semantic checks live with the code that
evaluates them) and reported with the same file, line, route and field.

An inbound route says which upstream events (``hub`` / ``category`` / ``event``, each a
pattern as the service's upstream settings write them: ``*``, a comma list or a list,
or one name) become a record on which Kafka ``topic``, with which ``key`` and ``headers``.
The record's value is the versioned envelope of ``bridge/upstream/README.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from .fields import JsonArgument, Name, TopicName

CATEGORIES = ("connections", "messages")
DEFAULT_INBOUND_KEY = "{userId || connectionId}"
"""A user's records stay in order across their connections; anonymous ones per connection."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _pattern_items(value: Any) -> Any:
    """``"a, b"`` and ``[a, b]`` both mean the two names (the service's comma list, trimmed)."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple):
        return tuple(item.strip() if isinstance(item, str) else item for item in value)
    return value


def _non_empty_names(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value or any(not item for item in value):
        raise ValueError("a pattern is '*', one name, or a list of names (no empty entries)")
    return value


Pattern = Annotated[
    tuple[str, ...],
    BeforeValidator(_pattern_items, json_schema_input_type=list[str] | str),
    Field(description="'*' (any), one name, or a list (a comma-separated string works too)"),
]


class InboundRouteConfig(_Model):
    """Upstream events matching hub, category and event become one record on ``topic``."""

    name: Name
    hub: Pattern | None = Field(
        default=None, description="Hub pattern (case-insensitive); default: signalr.hub"
    )
    category: Pattern = Field(default=("*",), description="connections, messages, or '*'")
    event: Pattern = Field(
        default=("*",), description="connected / disconnected, or the invoked hub method; '*' for any"
    )
    filter: str | None = Field(default=None, description="JMESPath over the envelope; falsy skips the route")
    topic: TopicName
    key: str = Field(
        default=DEFAULT_INBOUND_KEY, description="Template for the record key (text), over the envelope"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra record headers: name -> template over the envelope"
    )
    result: JsonArgument | None = Field(
        default=None,
        description="What invoke() returns to the client (JSON; strings are templates over the envelope "
        "plus 'record': topic, partition, offset). Default: no result.",
    )

    @field_validator("hub", "event")
    @classmethod
    def _names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _non_empty_names(value)

    @field_validator("category")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [item for item in _non_empty_names(value) if item not in (*CATEGORIES, "*")]
        if unknown:
            raise ValueError(f"unknown category {unknown[0]!r} (expected connections, messages or '*')")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name.strip():
                raise ValueError("a header name must not be empty")
        return value

    @model_validator(mode="after")
    def _connection_events(self) -> Self:
        if self.category == ("connections",):
            odd = [e for e in self.event if e not in ("connected", "disconnected", "*")]
            if odd:
                raise ValueError(
                    f"category connections has only the events connected and disconnected, not {odd[0]!r}"
                )
        return self


class UpstreamTlsConfig(_Model):
    """Serve the receiver over HTTPS (the service calls upstream URLs over the internet)."""

    cert_file: str = Field(description="Server certificate chain (PEM)")
    key_file: str | None = Field(default=None, description="Private key (PEM); default: inside cert_file")
    key_password: SecretStr | None = None


class UpstreamConfig(_Model):
    """The upstream receiver: the service POSTs client events here; routes turn them into records."""

    host: str = Field(default="0.0.0.0", description="Bind address of the receiver")  # noqa: S104
    port: int = Field(default=8080, ge=0, le=65535, description="0 binds a free port (tests)")
    path: str = Field(
        default="/upstream",
        description="URL path prefix the service posts to; the rest of the path is free (e.g. "
        "{hub}/{category}/{event} from the upstream URL template): events are routed by their headers",
    )
    tls: UpstreamTlsConfig | None = None
    access_keys: tuple[SecretStr, ...] = Field(
        default=(),
        description="Extra AccessKeys whose signatures are accepted (e.g. during key rotation); the "
        "AccessKeys of the signalr connection strings are always accepted",
    )
    max_in_flight: int = Field(
        default=1000, ge=1, description="Requests being handled at once; more are answered 503"
    )
    max_in_flight_bytes: int = Field(
        default=64 * 1_048_576,
        ge=1024,
        description="Request bytes being handled at once (memory bound); more are answered 503",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=16 * 1_048_576, description="A larger request is answered 413"
    )
    produce_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=100,
        description="Answer 503 when Kafka has not confirmed the write by then, so the service retries",
    )
    routes: tuple[InboundRouteConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _budget(self) -> Self:
        if self.max_body_bytes > self.max_in_flight_bytes:
            raise ValueError("max_body_bytes must not exceed max_in_flight_bytes")
        return self

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in "?#{} "):
            raise ValueError("must start with '/' and contain no query, fragment, braces or spaces")
        return value.rstrip("/") or "/"
