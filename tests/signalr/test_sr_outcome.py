"""How answers are judged: delivered, benign, retried, or failed for good - and why."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from bridge.signalr.actions import (
    AddConnectionToGroup,
    CloseConnection,
    RemoveConnectionFromGroup,
    RemoveUserFromGroup,
    SendToAll,
    SendToConnection,
)
from bridge.signalr.outcome import (
    Outcome,
    classify_ack,
    classify_exception,
    classify_response,
    parse_retry_after,
)
from bridge.signalr.requests import build_request, connection_exists_request
from bridge.signalr.retry import RetryPolicy

pytestmark = pytest.mark.unit

SEND = build_request(SendToAll(target="t"), hub="h")
REMOVE_USER = build_request(RemoveUserFromGroup(user_id="u", group="g"), hub="h")
CLOSE = build_request(CloseConnection(connection_id="c"), hub="h")


def code(value: str) -> dict[str, str]:
    return {"x-ms-error-code": value}


def test_2xx_is_delivered() -> None:
    assert classify_response(SEND, 202, {}).outcome is Outcome.DELIVERED


@pytest.mark.parametrize(
    ("request_", "error_code"),
    [
        (REMOVE_USER, "Info.User.NotInGroup"),
        (CLOSE, "Warning.Connection.NotExisted"),
        (
            build_request(RemoveConnectionFromGroup(connection_id="c", group="g"), hub="h"),
            "Error.Connection.NotExisted",
        ),
    ],
)
def test_404_meaning_the_state_already_holds_is_benign(request_: object, error_code: str) -> None:
    verdict = classify_response(request_, 404, code(error_code))  # type: ignore[arg-type]
    assert verdict.outcome is Outcome.BENIGN
    assert verdict.error_code == error_code
    assert error_code in verdict.describe()


def test_vanished_connection_is_a_failure_for_sends_and_adds() -> None:
    for action in (
        SendToConnection(target="t", connection_id="c"),
        AddConnectionToGroup(connection_id="c", group="g"),
    ):
        verdict = classify_response(build_request(action, hub="h"), 404, code("Error.Connection.NotExisted"))
        assert verdict.outcome is Outcome.FAILED_PERMANENT
        assert verdict.reason == "not-found"


def test_404_without_error_code_is_a_wrong_route() -> None:
    verdict = classify_response(REMOVE_USER, 404, {})
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILED_PERMANENT, "no-such-route")


def test_existence_check_no_is_benign() -> None:
    check = connection_exists_request("c", hub="h")
    assert classify_response(check, 404, code("Warning.Connection.NotExisted")).outcome is Outcome.BENIGN
    assert classify_response(check, 200, {}).outcome is Outcome.DELIVERED


@pytest.mark.parametrize("status", [400, 403, 413, 409])
def test_client_errors_are_permanent(status: int) -> None:
    verdict = classify_response(SEND, status, code("Error.Some.Thing"))
    assert verdict.outcome is Outcome.FAILED_PERMANENT
    assert f"HTTP {status}" in verdict.describe()


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_transient_statuses_retry(status: int) -> None:
    assert classify_response(SEND, status, {}).outcome is Outcome.RETRY


def test_401_retries_once_with_a_fresh_token() -> None:
    verdict = classify_response(SEND, 401, {})
    assert verdict.outcome is Outcome.RETRY
    assert verdict.reauthenticate


def test_500_on_a_send_follows_the_duplicate_policy() -> None:
    assert classify_response(SEND, 500, {}).outcome is Outcome.RETRY
    strict = classify_response(SEND, 500, {}, retry_ambiguous_sends=False)
    assert (strict.outcome, strict.reason) == (Outcome.FAILED_PERMANENT, "ambiguous")
    # Group operations are idempotent: always retried.
    assert classify_response(REMOVE_USER, 500, {}, retry_ambiguous_sends=False).outcome is Outcome.RETRY


def test_transport_errors() -> None:
    assert classify_exception(SEND, httpx.ConnectError("refused")).outcome is Outcome.RETRY
    assert classify_exception(SEND, httpx.ReadTimeout("slow")).reason == "timeout"
    dropped = classify_exception(SEND, httpx.RemoteProtocolError("closed"), retry_ambiguous_sends=False)
    assert dropped.outcome is Outcome.FAILED_PERMANENT
    # A refused connection never reached the service: safe to retry even when strict.
    refused = classify_exception(SEND, httpx.ConnectError("refused"), retry_ambiguous_sends=False)
    assert refused.outcome is Outcome.RETRY


def test_retry_after_seconds_and_http_date() -> None:
    assert classify_response(SEND, 429, {"retry-after": "3"}).retry_after == 3.0
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == pytest.approx(10, abs=1)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "-5"}) == 0.0
    assert parse_retry_after({"retry-after": "999999"}) == 3600.0


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    import random

    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(7)
    delays = [policy.backoff(n, rng) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(1.0, 0.1 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not constant


@pytest.mark.parametrize(
    ("status", "benign", "expected"),
    [
        (1, False, (Outcome.DELIVERED, "ok")),
        (2, True, (Outcome.BENIGN, "already-so")),
        (2, False, (Outcome.FAILED_PERMANENT, "not-found")),
        (3, False, (Outcome.RETRY, "timeout")),
        (4, True, (Outcome.RETRY, "server-error")),
        (9, False, (Outcome.FAILED_PERMANENT, "rejected")),
    ],
)
def test_acks_of_the_persistent_transport_map_to_the_same_classes(
    status: int, benign: bool, expected: tuple[Outcome, str]
) -> None:
    verdict = classify_ack(status, "why", not_found_is_benign=benign)
    assert (verdict.outcome, verdict.reason) == expected
    if status != 1:
        assert verdict.error_code is not None
        assert verdict.error_code.endswith(": why")
