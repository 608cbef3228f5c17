"""Route actions compiled from the config: templates parsed once, evaluated per record."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.config import format_path
from bridge.config.fields import MAX_TTL
from bridge.config.schema import ActionConfig, CloseAction, GroupAction, SendAction
from bridge.signalr import actions as sa
from bridge.signalr.errors import PreflightError
from bridge.signalr.names import check_connection_id, check_group, check_hub, check_target, check_user

from .checks import ConfigChecks, NameRule, Path
from .errors import RoutingError, RoutingReason
from .render import FieldContext, render_fanout, render_json, render_text
from .template import Template

Envelope = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CompiledField:
    """A template plus its config path (``actions[0].send.groupName``) for error messages."""

    path: str
    template: Template

    def text(self, envelope: Envelope, route: str, check: Callable[[str], str] | None = None) -> str:
        ctx = FieldContext(route, self.path)
        value = render_text(self.template, envelope, ctx)
        return _checked(value, check, ctx)

    def many(
        self,
        envelope: Envelope,
        route: str,
        check: Callable[[str], str],
        limit: int,
        *,
        null_is_empty: bool = False,
    ) -> list[str]:
        ctx = FieldContext(route, self.path)
        values = render_fanout(self.template, envelope, ctx, limit=limit, null_is_empty=null_is_empty)
        return [_checked(value, check, ctx) for value in values]


def _checked(value: str, check: Callable[[str], str] | None, ctx: FieldContext) -> str:
    if check is None:
        return value
    try:
        check(value)
    except PreflightError as exc:
        raise ctx.error(RoutingReason.INVALID_FIELD, str(exc)) from None
    return value


def _check_fanout(count: int, limit: int, route: str, path: str) -> None:
    if count > limit:
        raise RoutingError(
            RoutingReason.FANOUT_LIMIT,
            f"fans out to {count} actions, more than max_fanout {limit}",
            route=route,
            field=path,
        )


def _check_excluded(connection_id: str) -> str:
    return check_connection_id(connection_id, what="excluded connection id")


@dataclass(frozen=True, slots=True)
class CompiledAction:
    kind: str  # "send" | "group" | "close"
    path: str
    spec: SendAction | GroupAction | CloseAction
    fields: Mapping[str, CompiledField]
    excluded: tuple[CompiledField, ...]
    arguments: Any  # tuple of compiled JSON templates
    ttl: int | CompiledField | None

    def build(
        self, envelope: Envelope, route: str, route_hub: CompiledField | None, max_fanout: int
    ) -> list[sa.Action]:
        hub_field = self.fields.get("hub") or route_hub
        hub = hub_field.text(envelope, route, check_hub) if hub_field is not None else None
        if self.kind == "send":
            built = self._send(envelope, route, hub, max_fanout)
        elif self.kind == "group":
            built = self._group(envelope, route, hub, max_fanout)
        else:
            built = self._close(envelope, route, hub, max_fanout)
        _check_fanout(len(built), max_fanout, route, self.path)
        return built

    def _send(self, envelope: Envelope, route: str, hub: str | None, limit: int) -> list[sa.Action]:
        target = self.fields["target"].text(envelope, route, check_target)
        recipients = self._recipients(envelope, route, limit)
        ctx = FieldContext(route, f"{self.path}.arguments")
        arguments = tuple(render_json(spec, envelope, ctx) for spec in self.arguments)
        kind, names = recipients
        if kind == "userId":
            return [sa.SendToUser(target=target, arguments=arguments, hub=hub, user_id=u) for u in names]
        if kind == "connectionId":
            return [
                sa.SendToConnection(target=target, arguments=arguments, hub=hub, connection_id=c)
                for c in names
            ]
        excluded = tuple(
            value
            for item in self.excluded
            for value in item.many(envelope, route, _check_excluded, limit, null_is_empty=True)
        )
        if kind == "groupName":
            return [
                sa.SendToGroup(target=target, arguments=arguments, hub=hub, group=g, excluded=excluded)
                for g in names
            ]
        return [sa.SendToAll(target=target, arguments=arguments, hub=hub, excluded=excluded)]

    def _recipients(self, envelope: Envelope, route: str, limit: int) -> tuple[str, list[str]]:
        for kind, check in (
            ("userId", check_user),
            ("groupName", check_group),
            ("connectionId", check_connection_id),
        ):
            if kind in self.fields:
                return kind, self.fields[kind].many(envelope, route, check, limit)
        return "all", []

    def _group(self, envelope: Envelope, route: str, hub: str | None, limit: int) -> list[sa.Action]:
        action = getattr(self.spec, "action", None)
        groups = (
            self.fields["groupName"].many(envelope, route, check_group, limit)
            if "groupName" in self.fields
            else []
        )
        members = "userId" if "userId" in self.fields else "connectionId"
        check = check_user if members == "userId" else check_connection_id
        names = self.fields[members].many(envelope, route, check, limit)
        if action != "removeAll":  # every member x group pair is one request: refuse before building them
            _check_fanout(len(names) * len(groups), limit, route, self.path)
        if members == "userId":
            users = names
            if action == "removeAll":
                return [sa.RemoveUserFromAllGroups(user_id=u, hub=hub) for u in users]
            if action == "remove":
                return [
                    sa.RemoveUserFromGroup(user_id=u, group=g, hub=hub)
                    for u, g in itertools.product(users, groups)
                ]
            ttl = self._ttl(envelope, route)
            return [
                sa.AddUserToGroup(user_id=u, group=g, ttl=ttl, hub=hub)
                for u, g in itertools.product(users, groups)
            ]
        connections = names
        if action == "removeAll":
            return [sa.RemoveConnectionFromAllGroups(connection_id=c, hub=hub) for c in connections]
        pairs = itertools.product(connections, groups)
        if action == "remove":
            return [sa.RemoveConnectionFromGroup(connection_id=c, group=g, hub=hub) for c, g in pairs]
        return [sa.AddConnectionToGroup(connection_id=c, group=g, hub=hub) for c, g in pairs]

    def _close(self, envelope: Envelope, route: str, hub: str | None, limit: int) -> list[sa.Action]:
        connections = self.fields["connectionId"].many(envelope, route, check_connection_id, limit)
        reason = self.fields["reason"].text(envelope, route) if "reason" in self.fields else None
        return [sa.CloseConnection(connection_id=c, reason=reason, hub=hub) for c in connections]

    def _ttl(self, envelope: Envelope, route: str) -> int | None:
        if self.ttl is None or isinstance(self.ttl, int):
            return self.ttl
        text = self.ttl.text(envelope, route)
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_TTL:
            raise RoutingError(
                RoutingReason.INVALID_FIELD,
                f"ttl must be a whole number of seconds in 0..{MAX_TTL}, got {text[:40]!r}",
                route=route,
                field=self.ttl.path,
            )
        return int(text)


# The service's rule for a name given as plain text, checked when the config is loaded.
_NAME_RULES: Mapping[str, NameRule] = {
    "target": check_target,
    "userId": check_user,
    "groupName": check_group,
    "connectionId": check_connection_id,
}


def compile_action(config: ActionConfig, path: Path, checks: ConfigChecks) -> CompiledAction:
    """Compile one action at ``path`` (``("routes", 0, "actions", 1)``); problems go to ``checks``."""
    spec: SendAction | GroupAction | CloseAction
    if config.send is not None:
        kind, spec = "send", config.send
    elif config.group is not None:
        kind, spec = "group", config.group
    else:
        assert config.close is not None
        kind, spec = "close", config.close
    base = (*path, kind)
    sources: dict[str, str | None] = {}
    excluded: tuple[CompiledField, ...] = ()
    arguments: Any = ()
    ttl: int | CompiledField | None = None
    if config.send is not None:
        send = config.send
        sources |= {
            "target": send.target,
            "userId": send.user_id,
            "groupName": send.group_name,
            "connectionId": send.connection_id,
        }
        excluded = tuple(_field(checks, (*base, "excluded", i), t) for i, t in enumerate(send.excluded))
        arguments = tuple(
            checks.json_template((*base, "arguments", i), argument)
            for i, argument in enumerate(send.arguments)
        )
    elif config.group is not None:
        group = config.group
        sources |= {
            "userId": group.user_id,
            "connectionId": group.connection_id,
            "groupName": group.group_name,
        }
        if isinstance(group.ttl, str):
            ttl = CompiledField(_within_route((*base, "ttl")), checks.ttl((*base, "ttl"), group.ttl))
        else:
            ttl = group.ttl
    else:
        assert config.close is not None
        sources |= {"connectionId": config.close.connection_id, "reason": config.close.reason}
    fields = {
        name: _field(checks, (*base, name), source, _NAME_RULES.get(name))
        for name, source in sources.items()
        if source is not None
    }
    if spec.hub is not None:
        fields["hub"] = CompiledField(_within_route((*base, "hub")), checks.hub((*base, "hub"), spec.hub))
    return CompiledAction(kind, _within_route(base), spec, fields, excluded, arguments, ttl)


def _field(checks: ConfigChecks, path: Path, source: str, name_rule: NameRule | None = None) -> CompiledField:
    return CompiledField(_within_route(path), checks.template(path, source, name_rule))


def _within_route(path: Path) -> str:
    """How record errors name a field, within its route: ``actions[0].group.ttl``."""
    return format_path(path[2:])
