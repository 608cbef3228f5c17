"""``signalr-bridge test FILE...``: route tests (a record in; SignalR requests or a dead-letter reason out).

The file format is described in :mod:`bridge.routing.route_tests`; ``config/*.test.yaml`` are examples.
Exit 0 when every case passes, 1 when one fails (with a diff), 2 when a file cannot be used.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from bridge.config import ConfigError

from ._exit import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

HELP = "run route tests: records in, expected SignalR requests or dead-letter reasons out"
SUFFIX = ".test.yaml"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test",
        help=HELP,
        description="Run route tests from YAML files (a directory means every *.test.yaml in it). "
        "No network. Exit 0 when all pass, 1 when a case fails, 2 when a file cannot be used.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="test file, or a directory of *.test.yaml")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bridge.routing.route_tests import run_test_file  # noqa: PLC0415 - loads routing on use

    passed = failed = 0
    files, broken = _test_files(args.files)
    for path in files:
        try:
            result = run_test_file(path)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            broken = True
            continue
        print(f"{result.file} (testing {result.config})")
        for case in result.cases:
            if case.passed:
                print(f"  ok    {case.name}")
                continue
            where = f"{result.file}:{case.line}" if case.line else result.file
            print(f"  FAIL  {case.name}  [{where}]")
            print(textwrap.indent(case.diff, " " * 8))
        failed += result.failed
        passed += len(result.cases) - result.failed
    print(f"{passed + failed} tests: {passed} passed, {failed} failed")
    if broken:
        return EXIT_USAGE
    return EXIT_PROBLEMS if failed else EXIT_OK


def _test_files(names: list[str]) -> tuple[list[str], bool]:
    """The files to run (a directory gives its *.test.yaml), and whether a directory had none."""
    files: list[str] = []
    empty = False
    for name in names:
        path = Path(name)
        if path.is_dir():
            found = sorted(str(p) for p in path.glob(f"*{SUFFIX}"))
            if not found:
                print(f"{name}: no *{SUFFIX} files in this directory", file=sys.stderr)
                empty = True
            files += found
        else:
            files.append(name)
    return files, empty
