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
