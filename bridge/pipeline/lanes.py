"""Ordered lanes: work items with the same lane key run one after another, others in parallel.

A lane is a chain of tasks: each new task for a key first waits for the previous task of that
key. Lanes cost nothing while idle: a key's entry is removed when its last task ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable


class Lanes:
    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, lane: Hashable | None, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Schedule ``work``; with a lane key it starts only after the lane's previous work ends.

        ``lane=None`` means no ordering constraint. ``work`` must not raise: the caller's work
        owns its error handling (a failed record is dead-lettered, not raised).
        """
        previous = self._tails.get(lane) if lane is not None else None
        task = asyncio.create_task(self._run(previous, work))
        self._tasks.add(task)
        if lane is not None:
            self._tails[lane] = task
        task.add_done_callback(lambda done: self._done(lane, done))
        return task

    @staticmethod
    async def _run(previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]) -> None:
        if previous is not None and not previous.done():
            # Wait without propagating the predecessor's cancellation into this task.
            await asyncio.wait([previous])
        await work()

    def _done(self, lane: Hashable | None, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if lane is not None and self._tails.get(lane) is task:
            del self._tails[lane]

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, within: float | None) -> bool:
        """Wait for every task; True when all finished within ``within`` seconds."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        return not pending

    async def cancel(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
