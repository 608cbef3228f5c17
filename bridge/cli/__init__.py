"""The `signalr-bridge` command line.

Each subcommand lives in its own module in this package, named after the command, with:

* ``HELP``: a one-line string literal, listed by ``signalr-bridge --help``;
* ``register(subparsers)``: adds the command's parser and sets ``handler`` to a function
  ``(args) -> int`` (the exit code).

Modules are discovered, so adding a subcommand touches nothing but its own file. They are
also loaded lazily: the command line imports only the module of the command it runs, and
lists the others by reading their ``HELP`` from the source without importing them. So
``--version`` imports no command, and ``check`` does not pay for the HTTP client, faust or
the emulator that other commands need (``tests/test_layering.py`` holds this).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from importlib.abc import InspectLoader
from types import ModuleType

from bridge import __version__


def command_names() -> list[str]:
    """Every subcommand, from the modules in this package (none is imported)."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def load_command(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")


def command_help(name: str) -> str:
    """The module's ``HELP``, read from its source; imported only when there is no source."""
    spec = importlib.util.find_spec(f"{__name__}.{name}")
    loader = spec.loader if spec is not None else None
    source = loader.get_source(spec.name) if isinstance(loader, InspectLoader) and spec else None
    if source is not None:
        for node in ast.parse(source).body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                return node.value.value
    text: str = load_command(name).HELP
    return text


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv``: the full parser of the command it names, the others listed by name."""
    parser = argparse.ArgumentParser(
        prog="signalr-bridge",
        description="Kafka to Azure SignalR Service bridge.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    names = command_names()
    # Top-level options take no values, so the first word that is not an option is the command.
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    if chosen in names:
        load_command(chosen).register(subparsers)
    else:
        for name in names:
            subparsers.add_parser(name, help=command_help(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = handler(args)
    return code
