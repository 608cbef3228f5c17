"""Read YAML into plain Python data plus the line of every key and list item.

PyYAML's loader silently keeps the last of two equal keys; here a duplicate is an
error naming both lines. Lines let every later error point into the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlSourceError(ValueError):
    """Syntax error or duplicate key; ``line`` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None, path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


@dataclass(slots=True)
class YamlDocument:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)


def parse_yaml(text: str) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None)
        document = YamlDocument(None)
        document.data = _build(loader, node, (), document.lines, frozenset())
        return document
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSourceError(f"invalid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"invalid YAML: {exc}") from None
    except RecursionError:  # e.g. a merge key that merges its own mapping
        raise YamlSourceError("invalid YAML: nested too deeply (or a merge refers to itself)") from None
    finally:
        loader.dispose()


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int], open_nodes: frozenset[int]
) -> Any:
    if id(node) in open_nodes:  # an alias inside its own anchor: "a: &x [*x]"
        raise YamlSourceError("an alias refers to its own anchor", line=node.start_mark.line + 1, path=path)
    open_nodes = open_nodes | {id(node)}
    if isinstance(node, yaml.MappingNode):
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)  # resolve "<<" merge keys the way PyYAML does
        merged = len(node.value) - explicit  # merged pairs come first and may be overridden
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                # Config keys and JSON object keys are text; YAML would make 1, true or null something else.
                shown = "null" if key is None else str(key).lower() if isinstance(key, bool) else repr(key)
                raise YamlSourceError(f"key {shown} must be text (quote it)", line=line, path=path)
            if key in first_line and index >= merged and first_line[key] > 0:
                raise YamlSourceError(
                    f"duplicate key {key!r} (first defined on line {first_line[key]})",
                    line=line,
                    path=(*path, str(key)),
                )
            first_line[key] = line if index >= merged else 0
            child = (*path, str(key))
            lines[child] = line
            result[key] = _build(loader, value_node, child, lines, open_nodes)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_build(loader, item_node, child, lines, open_nodes))
        return items
    return loader.construct_object(node, deep=True)
