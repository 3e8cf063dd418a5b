"""Finding asyncio tasks a test left running (shared by the suite's guards)."""

from __future__ import annotations

import asyncio

GRACE = 2.0  # seconds a finished test's tasks get to wind down on their own


async def tasks_left_running(grace: float = GRACE) -> list[asyncio.Task]:
    """Tasks other than the caller still running after `grace` seconds (polled, not slept)."""
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while True:
        leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not leftover or loop.time() > deadline:
            return leftover
        await asyncio.sleep(0.02)
