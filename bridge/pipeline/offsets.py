"""Release offsets to the consumer strictly in order, per partition.

faust commits the contiguous run of *acked* offsets, but its gap guard is off by one
(faust-streaming#606): with a record still in flight at the head of a partition and later
records acked, it can commit past the in-flight one. We never give faust a gap: a record is
acked only once it and every earlier record of its partition are finished (delivered,
skipped or dead-lettered). Then faust's acked list is always contiguous from the committed
offset and its commit can never pass an unfinished record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Token = TypeVar("Token")


@dataclass(slots=True, eq=False)
class _Partition(Generic[Token]):
    pending: deque[Ticket[Token]] = field(default_factory=deque)


@dataclass(slots=True, eq=False)
class Ticket(Generic[Token]):
    """One record in flight. Finishing goes by ticket, not by offset: after a revoke and
    re-assignment the same offset can be in flight twice, and only the new copy counts."""

    partition: Hashable
    offset: int
    token: Token
    state: _Partition[Token]
    finished: bool = False


class OrderedAcks(Generic[Token]):
    """Tracks records in flight per partition and releases them in offset order.

    ``release`` is called with each record's token (e.g. the faust event to ack) once it and
    all records before it in its partition are finished.
    """

    def __init__(self, release: Callable[[Token], object]) -> None:
        self._release = release
        self._partitions: dict[Hashable, _Partition[Token]] = {}

    def begin(self, partition: Hashable, offset: int, token: Token) -> Ticket[Token]:
        state = self._partitions.setdefault(partition, _Partition())
        if state.pending and offset <= state.pending[-1].offset:
            # The consumer went back (a seek to the committed offset): everything from there is
            # delivered again, so the old copies in flight must not release anything any more.
            state = self._partitions[partition] = _Partition()
        ticket = Ticket(partition, offset, token, state)
        state.pending.append(ticket)
        return ticket

    def finish(self, ticket: Ticket[Token]) -> int:
        """Mark one record finished; returns how many records were released."""
        state = ticket.state
        if self._partitions.get(ticket.partition) is not state:
            return 0  # the partition was revoked meanwhile: its new owner redelivers it
        ticket.finished = True
        released = 0
        while state.pending and state.pending[0].finished:
            self._release(state.pending.popleft().token)
            released += 1
        return released

    def forget(self, partition: Hashable) -> int:
        """Drop a revoked partition's records without releasing them; returns how many."""
        state = self._partitions.pop(partition, None)
        return len(state.pending) if state else 0

    def in_flight(self, partition: Hashable | None = None) -> int:
        if partition is not None:
            state = self._partitions.get(partition)
            return len(state.pending) if state else 0
        return sum(len(state.pending) for state in self._partitions.values())

    def oldest_unfinished(self, partition: Hashable) -> int | None:
        state = self._partitions.get(partition)
        return state.pending[0].offset if state and state.pending else None
