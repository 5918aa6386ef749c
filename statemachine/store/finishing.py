"""Awaiting a store's write to its end, whatever happens to the task that awaits it.

A write handed to a thread, or sent to a server, goes on when the task awaiting it is
cancelled. Abandoned, it would land later: after the lease was let go, after the caller was
told the run stood still. So the task waits for it, and takes its cancellation after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import NoReturn, TypeVar

__all__ = ["cancelled_after", "finish", "through"]

T = TypeVar("T")


async def finish(awaitable: Awaitable[T]) -> tuple[T, bool]:
    """`awaitable`'s result, awaited to its end even if this task is cancelled meanwhile (any
    number of times), and whether it was. A failure raises as it is; after a cancellation,
    as `CancelledError` (with the failure as its cause)."""
    work = asyncio.ensure_future(awaitable)
    cancelled = False
    while True:
        try:
            return await asyncio.shield(work), cancelled
        except asyncio.CancelledError:
            if work.cancelled():
                raise
            cancelled = True
        except Exception as exc:
            if cancelled:
                raise asyncio.CancelledError() from exc
            raise


async def through(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` to its end, then take this task's cancellation, if it came."""
    result, cancelled = await finish(awaitable)
    if cancelled:
        raise asyncio.CancelledError()
    return result


async def cancelled_after(awaitable: Awaitable[object]) -> NoReturn:
    """Await `awaitable` to its end, then raise the cancellation this task already took."""
    await finish(awaitable)
    raise asyncio.CancelledError()
