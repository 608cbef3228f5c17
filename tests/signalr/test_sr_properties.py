"""Properties over arbitrary names: encoding is lossless and never changes the route."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.signalr.actions import AddUserToGroup, SendToGroup
from bridge.signalr.requests import build_request

pytestmark = pytest.mark.unit

names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200).filter(
    lambda s: not s.isspace()
)


@given(user=names, group=names)
def test_any_user_and_group_survive_the_url(user: str, group: str) -> None:
    request = build_request(AddUserToGroup(user_id=user, group=group, ttl=5), hub="h")
    url = urlsplit(request.url("https://x.example"))
    segments = url.path.split("/")
    assert segments[:6] == ["", "api", "hubs", "h", "users", segments[5]]
    assert len(segments) == 8  # nothing in a name can add or remove a path segment
    assert (unquote(segments[5]), unquote(segments[7])) == (user, group)
    assert url.fragment == ""
    assert dict(parse_qsl(url.query)) == {"api-version": "2022-06-01", "ttl": "5"}


@given(excluded=st.lists(names, min_size=1, max_size=5))
def test_excluded_ids_round_trip_as_repeated_parameters(excluded: list[str]) -> None:
    request = build_request(SendToGroup(target="t", group="g", excluded=tuple(excluded)), hub="h")
    query = parse_qsl(urlsplit(request.url("https://x.example")).query, keep_blank_values=True)
    assert [v for k, v in query if k == "excluded"] == excluded
