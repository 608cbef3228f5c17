"""Exit codes and the guard around every command: a user sees one line, never a traceback.

The codes (the README's table is this one):

    0    success
    1    the command ran and found problems: ``check`` (invalid config), ``route`` (config
         error), ``test`` (a case failed), ``dlq show`` (no record matches), ``dlq replay``
         (records failed again), ``run`` (stopped on a failure the config says must stop it)
    2    the command could not do its job: bad arguments, an unreadable or invalid input, a
         config ``run`` cannot start with, a port in use, a missing extra, Kafka unreachable
    3    ``route``: the record would be dead-lettered or skipped
    70   internal error (a bug): one line, the traceback with ``--debug`` or SIGNALR_BRIDGE_DEBUG=1
    130  interrupted (Ctrl-C; ``run``: a second signal, exit without draining)
    141  the output pipe closed early (``... | head``); nothing is printed
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import Final, NoReturn

EXIT_OK: Final = 0
EXIT_PROBLEMS: Final = 1
EXIT_USAGE: Final = 2
EXIT_RECORD_FAILED: Final = 3
EXIT_INTERNAL: Final = 70  # EX_SOFTWARE in sysexits.h
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141  # as if killed by SIGPIPE, what a shell shows for `cmd | head`

DEBUG_ENV_VAR: Final = "SIGNALR_BRIDGE_DEBUG"


class CliError(Exception):
    """A problem the user can fix: printed as ``signalr-bridge <command>: <message>``, then exit."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (the usage itself is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 meaning any free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number: use 0 to 65535, 0 for any free port")
    return port


def debug_requested(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV_VAR, "") not in ("", "0")


def run_guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; turn whatever escapes it into one line on stderr and a documented exit code."""
    prog = getattr(args, "prog", "signalr-bridge")
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at interpreter exit
        return code
    except CliError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug_requested(args):
            traceback.print_exc()
        print(_internal_error_line(prog, exc), file=sys.stderr)
        return EXIT_INTERNAL


def _internal_error_line(prog: str, exc: BaseException) -> str:
    from bridge.observability.logging import redact_text  # noqa: PLC0415 - only on this path

    text = str(exc).strip().splitlines()
    detail = f": {redact_text(text[0])}" if text else ""
    return (
        f"{prog}: internal error: {type(exc).__name__}{detail} "
        f"(a bug; --debug or {DEBUG_ENV_VAR}=1 shows the traceback)"
    )


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail too.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
