"""Keeping leases alive: one heartbeat per store and process (a thread), or per store and
event loop (a task), renewing every lease held through it every third of a lease's length,
instead of one thread or task per run held.

A renewal that finds its lease lost drops it: the server's fence refuses the holder's
commits from then on (`LeaseLost`), whatever this process believes. A renewal that fails
(the server away) is tried again at the next beat; the fence protects the data meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from statemachine.core.errors import StoreError
from statemachine.store.values import Lease

__all__ = ["AsyncHeartbeat", "Heartbeat"]

_IDLE_BEATS = 3
"""Beats with no lease to renew before the thread ends (a busy process keeps one thread)."""


class Heartbeat:
    """One thread renewing every registered lease with `renew` every `interval` seconds."""

    def __init__(self, interval: float, renew: Callable[[Lease], bool], name: str) -> None:
        self.interval = interval
        self.name = name
        self._renew = renew
        self._lock = threading.Lock()
        self._leases: dict[str, Lease] = {}
        self._thread: threading.Thread | None = None

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._leases[lease.token] = lease
            # Not alive: none yet, or this process was forked from one that had it.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._beat, name=self.name, daemon=True)
                self._thread.start()

    def remove(self, lease: Lease) -> None:
        with self._lock:
            self._leases.pop(lease.token, None)

    def _beat(self) -> None:
        idle = 0
        while True:
            time.sleep(self.interval)
            with self._lock:
                leases = list(self._leases.values())
                idle = 0 if leases else idle + 1
                if idle >= _IDLE_BEATS:
                    self._thread = None
                    return
            for lease in leases:
                if lease.token not in self._leases:
                    continue  # given back since
                try:
                    renewed = self._renew(lease)
                except StoreError:
                    continue
                if not renewed:
                    self.remove(lease)


class AsyncHeartbeat:
    """`Heartbeat` for one event loop: a task, running while leases are held."""

    def __init__(self, interval: float, renew: Callable[[Lease], Awaitable[bool]]) -> None:
        self.interval = interval
        self._renew = renew
        self._leases: dict[str, Lease] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, lease: Lease) -> None:
        self._leases[lease.token] = lease
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._beat())

    def remove(self, lease: Lease) -> asyncio.Task[None] | None:
        """Stop renewing `lease`; the heartbeat's task if it was the last (cancelled: await
        it to its end)."""
        self._leases.pop(lease.token, None)
        task = self._task
        if self._leases or task is None:
            return None
        self._task = None
        task.cancel()
        return task

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for lease in list(self._leases.values()):
                if lease.token not in self._leases:
                    continue
                try:
                    renewed = await self._renew(lease)
                except StoreError:
                    continue
                if not renewed:
                    self._leases.pop(lease.token, None)
