"""Structured logs: one JSON object per line, with secrets masked.

Each line has ``ts`` (UTC, RFC 3339), ``level``, ``logger``, ``msg``, any
``extra=`` fields, and ``exc`` when an exception is attached. The ``text``
format is for people: the same fields, extras as ``key=value`` after the
message (so a failed record's topic, partition and offset are on its line).

Libraries (faust, mode, aiokafka, httpx) log at their own level, WARNING
unless asked otherwise, so their start-up chatter stays out of the way; their
repeated warnings and errors (aiokafka logs dozens per second while Kafka is
down) pass once per window per message template, the next one carrying the
count of those held back (:class:`RepeatFilter`). The
:class:`RedactingFilter` masks SignalR access keys, bearer tokens, JWTs and
passwords (SASL or any ``password=``/``"password": ...``) in the message, in
every extra (nested values too) and in tracebacks. It sits on the *handler*,
so records from every library (aiokafka, httpx, faust) pass through it.

:func:`logging_dict_config` returns the same setup as a ``dictConfig`` mapping,
which is what ``mode.Worker(logging_config=...)`` takes when faust runs the
loop (mode replaces logging handlers otherwise).
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

MASK: Final = "***"

LogFormat = Literal["json", "text"]

# Attributes every LogRecord has; anything else on a record came from extra=.
_RECORD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "", None, None)).keys() | {"message", "asctime"}
)

_SENSITIVE_KEY: Final = re.compile(
    r"pass(word|wd|phrase)|secret|token|access_?key|connection_?string|authorization|credential|api_?key",
    re.IGNORECASE,
)

# (pattern, replacement) applied in order to every string.
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # SignalR connection strings: AccessKey=...; up to the next ';' or blank.
    (re.compile(r"(AccessKey\s*=\s*)[^;\s\"']+", re.IGNORECASE), rf"\g<1>{MASK}"),
    # Authorization headers and bearer tokens.
    (re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), rf"\g<1>{MASK}"),
    # Any JWT (header.payload.signature, base64url, header starts with '{"').
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), MASK),
    # key=value / key: value / "key": "value" where the key names a secret.
    (
        re.compile(
            r"""(?P<key>["']?[\w.-]*(?:pass(?:word|wd|phrase)|secret|api_?key|token)["']?\s*[=:]\s*)"""
            r"""(?P<q>["']?)(?P<val>[^\s"',;}&]+)(?P=q)""",
            re.IGNORECASE,
        ),
        rf"\g<key>\g<q>{MASK}\g<q>",
    ),
    # Credentials in URLs: scheme://user:password@host.
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), rf"\g<1>{MASK}@"),
)


def redact_text(text: str) -> str:
    """Mask every secret-looking part of ``text``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, key: str | None = None) -> Any:
    """Mask a value wholesale when its key names a secret, else mask inside strings, recursively."""
    if key is not None and _SENSITIVE_KEY.search(key) and value is not None:
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record so no handler ever sees a secret; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: keep the template, drop the args
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS:
                setattr(record, key, redact_value(value, key))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # Formatting is the last chance: redact again in case no filter was installed.
        return json.dumps(redact_value(entry), default=str, ensure_ascii=False)


TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` followed by the record's extras as ``key=value`` (quoted when they hold blanks)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        pairs = [
            f"{key}={_text_value(redact_value(value, key))}"
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRS and value is not None
        ]
        if not pairs:
            return text
        first, newline, rest = text.partition("\n")  # extras stay on the message line, before a traceback
        return f"{first} {' '.join(pairs)}{newline}{rest}"


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list | tuple):
        text = ",".join(str(item) for item in value)
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False) if not text or any(c.isspace() for c in text) else text


# Loggers of the libraries the bridge runs on; their INFO is start-up and rebalance chatter.
LIBRARY_LOGGERS: Final = ("faust", "mode", "aiokafka", "kafka", "httpx", "httpcore")
DEFAULT_LIBRARY_LEVEL: Final = "WARNING"
REPEAT_WINDOW_SECONDS: Final = 30.0


def _is_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in LIBRARY_LOGGERS)


# Library errors that are a normal step of starting up, retried by the library itself: the first
# consumer group on a fresh cluster waits for its coordinator. They count as INFO.
_EXPECTED_AT_START: Final = (("aiokafka.consumer.group_coordinator", "Group Coordinator Request failed"),)


class LibraryFilter(logging.Filter):
    """Drops library records below ``level``, counting known start-up steps as INFO (see above)."""

    def __init__(self, level: str | int = DEFAULT_LIBRARY_LEVEL) -> None:
        super().__init__()
        self._level = logging.getLevelName(level) if isinstance(level, str) else level

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_library(record.name):
            return True
        level = record.levelno
        if any(record.name == name and str(record.msg).startswith(text) for name, text in _EXPECTED_AT_START):
            level = min(level, logging.INFO)
        return level >= self._level


@dataclass(slots=True)
class _Seen:
    since: float
    held_back: int = 0


class RepeatFilter(logging.Filter):
    """Lets a library's warning or error through once per window per message template.

    The first record of a window passes; the rest are counted, and the first one after the
    window passes with ``repeated=<count held back>``. Keyed by the unformatted message, so
    "Unable connect to node with id %s" for three brokers is one message, not three.
    """

    def __init__(
        self, window_seconds: float = REPEAT_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._window = window_seconds
        self._clock = clock
        self._seen: dict[tuple[str, int, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not _is_library(record.name):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.since < self._window:
            seen.held_back += 1
            return False
        if seen is not None and seen.held_back:
            record.repeated = f"{seen.held_back} more in the last {now - seen.since:.0f}s"
        if len(self._seen) >= 1000:  # templates are few; a bound all the same
            self._seen.clear()
        self._seen[key] = _Seen(now)
        return True


def _level_name(level: str | int) -> str:
    return logging.getLevelName(level) if isinstance(level, int) else level.upper()


def logging_dict_config(
    level: str | int = "INFO", fmt: LogFormat = "json", library_level: str | int | None = None
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping: one stderr handler with repeat limiting and redaction.

    ``library_level`` defaults to WARNING, or DEBUG when ``level`` is DEBUG.
    """
    formatter: dict[str, Any] = {"()": JsonFormatter if fmt == "json" else TextFormatter}
    if library_level is None:
        library_level = "DEBUG" if _level_name(level) == "DEBUG" else DEFAULT_LIBRARY_LEVEL
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # The repeat filter keys on the unformatted message, so it runs before redaction formats it.
        "filters": {
            "library": {"()": LibraryFilter, "level": _level_name(library_level)},
            "repeat": {"()": RepeatFilter},
            "redact": {"()": RedactingFilter},
        },
        "formatters": {"bridge": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "bridge",
                "filters": ["library", "repeat", "redact"],
            }
        },
        "loggers": {name: {"level": _level_name(library_level)} for name in LIBRARY_LOGGERS},
        "root": {"level": _level_name(level), "handlers": ["stderr"]},
    }


def configure_logging(
    level: str | int = "INFO", fmt: LogFormat = "json", library_level: str | int | None = None
) -> None:
    """Route every logger to stderr in ``fmt``, with secrets masked and library chatter held back.

    An exception that ends a thread (faust runs aiokafka's consumer in one) is logged too,
    instead of Python's bare traceback on stderr.
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"unknown log format {fmt!r}: use 'json' or 'text'")
    logging.config.dictConfig(logging_dict_config(level, fmt, library_level))
    threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    log = logging.getLogger("bridge.threads")
    if issubclass(args.exc_type, asyncio.CancelledError):
        # A library thread cancelled while it stopped (e.g. with Kafka unreachable): not a failure.
        log.debug("thread %s was cancelled while stopping", name)
        return
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    log.error("thread %s ended with %s", name, args.exc_type.__name__, exc_info=exc_info)
