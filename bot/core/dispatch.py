"""Per-chat ordered, cross-chat concurrent processing of updates.

Updates of one chat run one after another in arrival order (a second button press waits
for the first to finish); different chats run concurrently, at most ``max_concurrent`` jobs
at a time. The concurrency slot is taken only when a job is about to run, so a busy chat
never holds slots while it waits its turn. Platform-neutral: the durable inbox
(``bot/core/inbox.py``) feeds it and bounds what it queues.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

from bot.core.logs import log_event

__all__ = ["ChatDispatcher"]

Job = Callable[[], Awaitable[None]]


class ChatDispatcher:
    def __init__(self, max_concurrent: int = 256) -> None:
        self._queues: dict[Hashable, deque[Job]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def submit(self, key: Hashable, job: Job) -> None:
        """Queue ``job`` behind the chat's earlier jobs."""
        queue = self._queues.get(key)
        if queue is not None:  # a worker for this chat is running; it will pick this up in order
            queue.append(job)
            return
        self._queues[key] = deque([job])
        task = asyncio.get_running_loop().create_task(self._drain(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                job = queue[0]
                async with self._slots:
                    try:
                        await job()
                    except Exception:  # jobs report their own errors; never kill the chat's worker
                        log_event("chat_job_failed", level=logging.ERROR, exc_info=True)
                queue.popleft()
        finally:
            self._queues.pop(key, None)

    async def join(self, timeout: float | None = None) -> None:
        """Wait for queued work to finish (on shutdown); cancel what is left after ``timeout``."""
        if not self._tasks:
            return
        done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
