"""The config file, as frozen pydantic models that reject unknown keys.

Action fields use the Azure Functions SignalR binding vocabulary (``target``,
``arguments``, ``userId``, ``groupName``, ``connectionId``; group ``action``
``add`` / ``remove`` / ``removeAll``); everything else is snake_case. Defaults are
chosen for a small production deployment and explained next to each field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .fields import (
    ApiVersion,
    Expression,
    HubName,
    JsonArgument,
    Name,
    ServerList,
    Template,
    TopicName,
    TopicPattern,
    Ttl,
)
from .inbound import UpstreamConfig

FailureReason = Literal[
    "decode_error",
    "missing_field",
    "invalid_field",
    "expression_error",
    "fanout_limit",
    "rejected",
    "retries_exhausted",
]
"""Routing failures (see ``bridge.routing.errors.RoutingReason``) plus delivery failures:
``rejected`` = the service refused the request for good (4xx), ``retries_exhausted`` =
transient failures outlasted the retry budget."""

ALL_FAILURE_REASONS: tuple[FailureReason, ...] = (
    "decode_error",
    "missing_field",
    "invalid_field",
    "expression_error",
    "fanout_limit",
    "rejected",
    "retries_exhausted",
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


# ---------------------------------------------------------------------------- kafka


class SaslConfig(_Model):
    """SASL credentials. For Azure Event Hubs: mechanism PLAIN, username ``$ConnectionString``."""

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    username: str = Field(min_length=1)
    password: SecretStr


class TlsConfig(_Model):
    """TLS settings; without ``ca_file`` the system trust store is used."""

    ca_file: str | None = None
    cert_file: str | None = Field(default=None, description="Client certificate (PEM) for mutual TLS")
    key_file: str | None = None
    key_password: SecretStr | None = None
    verify: bool = Field(default=True, description="Verify the broker certificate and host name")

    @model_validator(mode="after")
    def _client_cert_pair(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file")
        return self


class KafkaSecurity(_Model):
    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        uses_sasl = self.protocol.startswith("SASL_")
        if uses_sasl and self.sasl is None:
            raise ValueError(
                f"protocol {self.protocol} needs a 'sasl' section (mechanism, username, password)"
            )
        if not uses_sasl and self.sasl is not None:
            raise ValueError(f"protocol {self.protocol} does not use 'sasl'; use SASL_SSL or SASL_PLAINTEXT")
        if self.tls is not None and not self.protocol.endswith("SSL"):
            raise ValueError(f"protocol {self.protocol} does not use TLS; remove 'tls' or use SSL / SASL_SSL")
        return self


class KafkaConfig(_Model):
    bootstrap_servers: ServerList = Field(description="host:port list, or one comma-separated string")
    group_id: str = Field(default="signalr-bridge", min_length=1, max_length=256)
    client_id: str = Field(default="signalr-bridge", min_length=1)
    start_from: Literal["earliest", "latest"] = Field(
        default="latest",
        description="Where a new consumer group starts. 'latest' so a first deploy does not replay "
        "old notifications to connected users; committed offsets always win.",
    )
    security: KafkaSecurity = KafkaSecurity()
    # Event Hubs closes idle connections after 240 s: set both to 180000 there.
    metadata_max_age_ms: int | None = Field(default=None, gt=0)
    connections_max_idle_ms: int | None = Field(default=None, gt=0)
    session_timeout_ms: int | None = Field(default=None, ge=6000, le=300000)
    request_timeout_ms: int | None = Field(default=None, gt=0)


# ---------------------------------------------------------------------------- signalr


Transport = Literal["rest", "persistent"]


class SignalREndpoint(_Model):
    name: Name
    connection_string: SecretStr  # parsed by routing's checks: see bridge/routing/checks.py
    role: Literal["primary", "secondary"] = "primary"
    transport: Transport | None = Field(
        default=None, description="Overrides signalr.transport for this endpoint"
    )


class RetryConfig(_Model):
    max_attempts: int = Field(default=5, ge=1, le=100, description="Attempts per request, the first included")
    max_elapsed_seconds: float = Field(default=60.0, gt=0)
    base_backoff_seconds: float = Field(default=0.5, gt=0)
    max_backoff_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_backoff_seconds < self.base_backoff_seconds:
            raise ValueError("max_backoff_seconds must not be below base_backoff_seconds")
        return self


class PersistentConfig(_Model):
    """Server connections of the persistent transport (bridge/signalr/DELIVERY.md explains them)."""

    connections: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Server connections per endpoint and hub; one record key always rides one of them",
    )
    messagepack: bool = Field(
        default=False,
        description="Also serialize every message for MessagePack clients (JSON clients are always served); "
        "the service does not translate between protocols on server connections",
    )
    ack_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="No ack for this long means the connection is broken; unconfirmed messages are resent",
    )


class SignalRConfig(_Model):
    connection_string: SecretStr | None = Field(
        default=None,
        description="Defaults to the AzureSignalRConnectionString environment variable",
    )
    endpoints: tuple[SignalREndpoint, ...] = ()
    api_version: ApiVersion = "2022-06-01"
    hub: HubName = Field(description="Hub used by actions that do not name one")
    application: HubName | None = None
    retry: RetryConfig = RetryConfig()
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    transport: Transport = Field(
        default="rest",
        description="rest: one HTTP request per action; persistent: WebSocket server connections "
        "(several times the throughput per replica and per unit; see bridge/signalr/DELIVERY.md)",
    )
    persistent: PersistentConfig = PersistentConfig()

    @model_validator(mode="after")
    def _endpoints(self) -> Self:
        if self.connection_string is not None and self.endpoints:
            raise ValueError("use either connection_string or endpoints, not both")
        names = [endpoint.name for endpoint in self.endpoints]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"endpoint names must be unique: {', '.join(duplicates)}")
        if self.endpoints and all(endpoint.role == "secondary" for endpoint in self.endpoints):
            raise ValueError("at least one endpoint must have role primary")
        if "{" in self.hub or (self.application and "{" in self.application):
            raise ValueError("the default hub and application must be plain names, not templates")
        return self

    @property
    def has_connection(self) -> bool:
        return self.connection_string is not None or bool(self.endpoints)


# ---------------------------------------------------------------------------- failures and runtime


class DeadLetterConfig(_Model):
    topic: TopicName | None = Field(
        default=None, description="Kafka topic for records that cannot be delivered"
    )
    reasons: tuple[FailureReason, ...] = Field(
        default=ALL_FAILURE_REASONS, min_length=1, description="Which failures go to the topic"
    )
    other_failures: Literal["skip", "stop"] = Field(
        default="skip",
        description="Failures not dead-lettered: 'skip' logs and counts them and moves on; "
        "'stop' halts the consumer without committing, so the record is retried after a restart",
    )

    def dead_letters(self, reason: str) -> bool:
        """True when a failure with ``reason`` goes to the dead-letter topic."""
        return self.topic is not None and reason in self.reasons

    @model_validator(mode="after")
    def _needs_topic(self) -> Self:
        if self.topic is None and "reasons" in self.model_fields_set:
            raise ValueError("'reasons' needs a dead-letter 'topic'")
        return self


class PipelineConfig(_Model):
    max_in_flight: int = Field(default=1000, ge=1, description="Records being delivered at once, in total")
    max_in_flight_per_partition: int = Field(
        default=250,
        ge=1,
        description="Cap per partition so one hot partition cannot take the whole budget",
    )

    @model_validator(mode="after")
    def _within_total(self) -> Self:
        if self.max_in_flight_per_partition > self.max_in_flight:
            raise ValueError("max_in_flight_per_partition must not exceed max_in_flight")
        return self


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value  # LOG_LEVEL=info works too


class ObservabilityConfig(_Model):
    host: str = Field(default="0.0.0.0", description="Bind address of /metrics, /healthz, /readyz")  # noqa: S104
    port: int = Field(default=9108, ge=0, le=65535, description="0 binds a free port (tests)")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    log_format: Literal["json", "text"] = "json"
    library_log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None, BeforeValidator(_upper)
    ] = Field(
        default=None,
        description="Level of faust, aiokafka and httpx logs (default WARNING, DEBUG with log_level DEBUG)",
    )


class ShutdownConfig(_Model):
    drain_timeout_seconds: float = Field(
        default=25.0, gt=0, description="Below Kubernetes' default 30 s grace period"
    )


# ---------------------------------------------------------------------------- routes


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


class SendAction(_Model):
    """Send ``target(arguments...)`` to everyone, a user, a group or a connection."""

    target: Template
    arguments: tuple[JsonArgument, ...] = ()
    all: bool = Field(default=False, description="Broadcast to every connection of the hub")
    user_id: Template | None = Field(default=None, alias="userId")
    group_name: Template | None = Field(default=None, alias="groupName")
    connection_id: Template | None = Field(default=None, alias="connectionId")
    excluded: Annotated[
        tuple[Template, ...], BeforeValidator(_one_or_many, json_schema_input_type=list[str] | str)
    ] = Field(default=(), description="Connection ids to skip (with all or groupName)")
    hub: HubName | None = None

    @model_validator(mode="after")
    def _one_recipient(self) -> Self:
        chosen = [
            name
            for name, value in (
                ("all", self.all or None),
                ("userId", self.user_id),
                ("groupName", self.group_name),
                ("connectionId", self.connection_id),
            )
            if value is not None
        ]
        if len(chosen) != 1:
            found = f" (found {', '.join(chosen)})" if chosen else ""
            raise ValueError(f"a send needs exactly one of all: true, userId, groupName, connectionId{found}")
        if self.excluded and chosen[0] not in ("all", "groupName"):
            raise ValueError("excluded works only with all or groupName (the service has no excluded there)")
        return self


class GroupAction(_Model):
    """Add a user or connection to a group, remove it, or remove it from all groups."""

    action: Literal["add", "remove", "removeAll"]
    user_id: Template | None = Field(default=None, alias="userId")
    connection_id: Template | None = Field(default=None, alias="connectionId")
    group_name: Template | None = Field(default=None, alias="groupName")
    ttl: Ttl | None = Field(default=None, description="Seconds (users only, action add)")
    hub: HubName | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.user_id is None) == (self.connection_id is None):
            raise ValueError("a group action needs exactly one of userId or connectionId")
        if self.action == "removeAll" and self.group_name is not None:
            raise ValueError("removeAll takes no groupName")
        if self.action != "removeAll" and self.group_name is None:
            raise ValueError(f"action {self.action} needs a groupName")
        if self.ttl is not None and (self.action != "add" or self.user_id is None):
            raise ValueError("ttl applies only to action add with userId")
        return self


class CloseAction(_Model):
    """Close a client connection."""

    connection_id: Template = Field(alias="connectionId")
    reason: Template | None = None
    hub: HubName | None = None


class ActionConfig(_Model):
    """Exactly one of ``send``, ``group`` or ``close``."""

    send: SendAction | None = None
    group: GroupAction | None = None
    close: CloseAction | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [name for name in ("send", "group", "close") if getattr(self, name) is not None]
        if len(chosen) != 1:
            found = f" (found {', '.join(chosen)})" if chosen else ""
            raise ValueError(f"an action needs exactly one of send, group, close{found}")
        return self


class RouteConfig(_Model):
    name: Name
    topics: tuple[TopicName, ...] = ()
    topic_pattern: TopicPattern | None = Field(
        default=None, description="Regular expression on the full name"
    )
    value_format: Literal["json", "text", "bytes"] = "json"
    filter: Expression | None = Field(default=None, description="JMESPath over the record; falsy skips it")
    ordering: Literal["key", "partition", "none"] = Field(
        default="key",
        description="Deliver in order per key (default), per partition, or in any order",
    )
    hub: HubName | None = Field(
        default=None, description="Hub for this route's actions (a template is allowed)"
    )
    max_fanout: int = Field(
        default=100, ge=1, le=100_000, description="Most actions one action may fan out to"
    )
    actions: tuple[ActionConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_topics(self) -> Self:
        if not self.topics and self.topic_pattern is None:
            raise ValueError("a route needs topics, topic_pattern, or both")
        return self


class BridgeConfig(_Model):
    """signalr-bridge configuration (see config/*.yaml for commented examples)."""

    version: Literal[1] = 1
    kafka: KafkaConfig
    signalr: SignalRConfig
    dead_letter: DeadLetterConfig = DeadLetterConfig()
    pipeline: PipelineConfig = PipelineConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    upstream: UpstreamConfig | None = Field(
        default=None, description="Receive the service's upstream webhooks and produce them to Kafka"
    )
    routes: tuple[RouteConfig, ...] = Field(default=(), description="Kafka -> SignalR routes")

    @field_validator("routes")
    @classmethod
    def _some_routes(cls, routes: tuple[RouteConfig, ...], info: ValidationInfo) -> tuple[RouteConfig, ...]:
        # 'upstream' is declared first, so it is validated (or failed) by now.
        if not routes and info.data.get("upstream") is None and "upstream" in info.data:
            raise ValueError("needs at least one route (here or in upstream.routes)")
        return routes
