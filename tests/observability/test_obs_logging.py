"""JSON log lines and secret redaction, as an operator reading stderr sees them."""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.observability.logging import (
    MASK,
    RedactingFilter,
    RepeatFilter,
    configure_logging,
    redact_text,
)

pytestmark = pytest.mark.unit

ACCESS_KEY = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA+/=="
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL3gifQ.c2lnbmF0dXJlLXZhbHVl"
CONN = f"Endpoint=https://demo.service.signalr.net;AccessKey={ACCESS_KEY};Version=1.0;"
SECRETS = (ACCESS_KEY, JWT, "hunter2-sasl", "s3cr3t-in-url")


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.mark.usefixtures("root_logging")
def test_json_lines_carry_the_fields_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("bridge.test")
    log.debug("hidden at INFO")
    log.info("delivered %d actions", 3, extra={"topic": "orders", "partition": 2})
    (entry,) = _lines(capsys.readouterr().err)
    assert entry["level"] == "info"
    assert entry["logger"] == "bridge.test"
    assert entry["msg"] == "delivered 3 actions"
    assert entry["topic"] == "orders"
    assert entry["partition"] == 2
    assert str(entry["ts"]).endswith("+00:00")


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_secret_reaches_the_output(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", fmt)  # type: ignore[arg-type]
    log = logging.getLogger("aiokafka.fake")  # third-party loggers go through the same handler
    log.info("connection string %s", CONN)
    log.info("sending with Authorization: Bearer %s", JWT)
    log.info("token=%s", JWT)
    log.warning("sasl config", extra={"sasl_plain_password": "hunter2-sasl", "ctx": {"token": JWT}})
    log.info("broker url sasl://bridge:s3cr3t-in-url@kafka:9093")
    log.info("settings {'sasl.password': 'hunter2-sasl', 'group': 'g'}")
    try:
        raise ValueError(f"bad connection string {CONN}")
    except ValueError:
        log.exception("could not parse")
    err = capsys.readouterr().err
    for secret in SECRETS:
        assert secret not in err
    assert "AccessKey=***" in err
    assert "'group': 'g'" in err  # non-secrets survive
    assert "demo.service.signalr.net" in err


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "delivered to group 'admins' for user 42 (passing=yes, tokens counted: 7)"
    assert redact_text(text) == text


def test_filter_masks_secret_named_extras_wholesale() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg %s", ("Bearer abc.def",), None)
    record.connection_string = CONN
    record.api_key = 12345
    RedactingFilter().filter(record)
    assert record.getMessage() == f"msg Bearer {MASK}"
    assert record.connection_string == MASK
    assert record.api_key == MASK


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]


@given(
    key=st.text(alphabet=string.ascii_letters + string.digits + "+/=", min_size=1, max_size=64),
    prefix=st.text(alphabet=string.digits + " ", max_size=20),
    separator=st.sampled_from([";", " ", '"', "'"]),
)
def test_any_access_key_is_masked_in_a_connection_string(key: str, prefix: str, separator: str) -> None:
    text = f"{prefix}Endpoint=https://x.service.signalr.net;AccessKey={key}{separator}Version=1.0;"
    # Only the key is replaced; the rest of the text stays readable.
    assert (
        redact_text(text)
        == f"{prefix}Endpoint=https://x.service.signalr.net;AccessKey={MASK}{separator}Version=1.0;"
    )


JWT_SHAPE = r"eyJ[A-Za-z0-9_-]{4,40}\.[A-Za-z0-9_-]{4,80}\.[A-Za-z0-9_-]{0,60}"


@given(token=st.from_regex(JWT_SHAPE, fullmatch=True))
def test_any_jwt_is_masked_wherever_it_appears(token: str) -> None:
    for text in (f"token {token} sent", f"Authorization: Bearer {token}", f'{{"access_token": "{token}"}}'):
        assert token not in redact_text(text)


@pytest.mark.usefixtures("root_logging")
def test_library_info_is_hidden_unless_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("faust.app.base").info("[^App]: Starting...")
    logging.getLogger("aiokafka.consumer.group_coordinator").info("Joined group")
    logging.getLogger("aiokafka.cluster").warning("Topic chat not found in cluster metadata")
    logging.getLogger("bridge.pipeline.daemon").info("bridge running")
    assert [(e["logger"], e["msg"]) for e in _lines(capsys.readouterr().err)] == [
        ("aiokafka.cluster", "Topic chat not found in cluster metadata"),
        ("bridge.pipeline.daemon", "bridge running"),
    ]
    for level, library_level in (("INFO", "INFO"), ("DEBUG", None)):
        configure_logging(level, "json", library_level)
        logging.getLogger("faust.app.base").info("[^App]: Starting...")
        assert [e["msg"] for e in _lines(capsys.readouterr().err)] == ["[^App]: Starting..."]


@pytest.mark.usefixtures("root_logging")
def test_text_lines_carry_the_extras(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    logging.getLogger("bridge.pipeline.processor").warning(
        "record dead-lettered: %s",
        "value is not JSON",
        extra={"reason": "decode_error", "route": "chat room", "topic": "chat", "partition": 2, "offset": 17},
    )
    line = capsys.readouterr().err.rstrip("\n")
    assert line.endswith(
        "WARNING bridge.pipeline.processor: record dead-lettered: value is not JSON "
        'reason=decode_error route="chat room" topic=chat partition=2 offset=17'
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_library_errors_pass_once_per_window_with_a_count() -> None:
    clock = _Clock()
    repeat = RepeatFilter(window_seconds=30, clock=clock)
    log = logging.getLogger("aiokafka.conn")

    def record(node: int, level: int = logging.ERROR, name: str = "aiokafka.conn") -> logging.LogRecord:
        # aiokafka's own template: the node id differs, the message is the same.
        return logging.LogRecord(
            name, level, __file__, 1, "Unable connect to node with id %s: %s", (node, "refused"), None
        )

    assert log.name == "aiokafka.conn"
    passed = []
    for second in range(60):  # 50 errors a second for a minute, as while Kafka is down
        clock.now = 1000.0 + second
        passed += [r for r in (record(n % 3) for n in range(50)) if repeat.filter(r)]
    assert len(passed) == 2
    assert not hasattr(passed[0], "repeated")
    assert passed[1].repeated == "1499 more in the last 30s"
    # Other messages, INFO lines and the bridge's own lines are never held back.
    assert repeat.filter(record(1, name="aiokafka.cluster"))
    assert all(repeat.filter(record(1, level=logging.INFO)) for _ in range(3))
    assert all(repeat.filter(record(1, name="bridge.pipeline.processor")) for _ in range(3))


@pytest.mark.usefixtures("root_logging")
def test_the_coordinator_wait_of_a_first_start_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    # aiokafka logs ERROR while a fresh cluster creates its offsets topic, and retries by itself.
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    configure_logging("INFO", "json")
    coordinator.error("Group Coordinator Request failed: %s", "[Error 15] GroupCoordinatorNotAvailableError")
    coordinator.error("Heartbeat failed: local member_id was not recognized")
    assert [e["msg"] for e in _lines(capsys.readouterr().err)] == [
        "Heartbeat failed: local member_id was not recognized"
    ]
    configure_logging("INFO", "json", library_level="INFO")
    coordinator.error("Group Coordinator Request failed: %s", "[Error 15] GroupCoordinatorNotAvailableError")
    assert [e["level"] for e in _lines(capsys.readouterr().err)] == ["error"]


@pytest.mark.usefixtures("root_logging")
def test_an_exception_that_ends_a_thread_is_logged_not_dumped(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import threading

    saved = threading.excepthook
    configure_logging("INFO", "json")
    try:

        def cancelled() -> None:
            raise asyncio.CancelledError  # faust's consumer thread, stopped while Kafka is down

        def broken() -> None:
            raise RuntimeError("Endpoint=https://x;AccessKey=leaky;")

        for target in (cancelled, broken):
            thread = threading.Thread(target=target, name=target.__name__)
            thread.start()
            thread.join()
    finally:
        threading.excepthook = saved
    err = capsys.readouterr().err
    assert not err.startswith("Exception in thread")
    (entry,) = _lines(err)
    assert (entry["level"], entry["logger"], entry["msg"]) == (
        "error",
        "bridge.threads",
        "thread broken ended with RuntimeError",
    )
    assert "leaky" not in err
