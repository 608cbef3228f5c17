"""Offsets are released in order: a commit can never pass a record still in flight."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.pipeline.offsets import OrderedAcks

pytestmark = pytest.mark.unit


@given(st.permutations(range(40)))
def test_released_offsets_are_always_a_contiguous_prefix(finish_order: list[int]) -> None:
    released: list[int] = []
    acks: OrderedAcks[int] = OrderedAcks(released.append)
    tickets = [acks.begin("p0", offset, offset) for offset in range(40)]
    finished: set[int] = set()
    for offset in finish_order:
        acks.finish(tickets[offset])
        finished.add(offset)
        # Everything released is finished, and nothing unfinished lies below it.
        assert released == list(range(len(released)))
        assert set(released) <= finished
        first_unfinished = min(set(range(40)) - finished, default=40)
        assert len(released) == first_unfinished
    assert acks.in_flight() == 0


def test_partitions_are_independent() -> None:
    released: list[tuple[str, int]] = []
    acks: OrderedAcks[tuple[str, int]] = OrderedAcks(released.append)
    tickets = {
        (name, offset): acks.begin(name, offset, (name, offset)) for offset in (5, 6, 7) for name in "ab"
    }
    acks.finish(tickets["b", 5])
    acks.finish(tickets["a", 6])
    assert released == [("b", 5)]
    assert acks.oldest_unfinished("a") == 5
    acks.finish(tickets["a", 5])
    assert released == [("b", 5), ("a", 5), ("a", 6)]
    assert acks.in_flight("a") == 1
    assert acks.in_flight() == 3


def test_a_revoked_partition_releases_nothing_later() -> None:
    released: list[str] = []
    acks: OrderedAcks[str] = OrderedAcks(released.append)
    old = acks.begin("p", 1, "old copy of 1")
    acks.begin("p", 2, "old copy of 2")
    assert acks.forget("p") == 2
    # Re-assigned at once: offset 1 is redelivered and in flight again.
    new = acks.begin("p", 1, "new copy of 1")
    assert acks.finish(old) == 0, "the old copy must not release the new one"
    assert released == []
    assert acks.finish(new) == 1
    assert released == ["new copy of 1"]


def test_a_seek_back_starts_the_partition_over() -> None:
    released: list[str] = []
    acks: OrderedAcks[str] = OrderedAcks(released.append)
    old_9 = acks.begin("p", 9, "old 9")
    acks.begin("p", 10, "old 10")
    new_9 = acks.begin("p", 9, "new 9")  # the consumer re-read from offset 9
    assert acks.finish(old_9) == 0
    assert acks.in_flight("p") == 1
    assert acks.finish(new_9) == 1
    assert released == ["new 9"]
