"""`AsyncWorker`: executes runs from a shared store on one event loop, up to `concurrency` of
them at once, for user code that mostly waits (on the network, an LLM): a hundred units each
awaiting a reply cost a hundred tasks, not a hundred threads.

It keeps every promise of the threaded `Worker`: it claims only the workflows it serves,
leases are renewed by a heartbeat task and fence its commits, it sweeps due timeouts and
expired leases about once a second, and what becomes of a claimed run is decided by the same
plan (`work.unit`). Store I/O is awaited: natively on Redis, in a thread on the file store.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from statemachine.core.errors import StoreError
from statemachine.runtime.hooks import deliver_due
from statemachine.runtime.work import (
    PURGED_PER_SWEEP,
    Execute,
    Fail,
    Idle,
    Letter,
    Load,
    Tally,
    failed,
    log,
    settings,
    unit,
)
from statemachine.runtime.workflow import Workflow
from statemachine.store.plans import acarry_out
from statemachine.store.protocol import Store
from statemachine.store.telemetry import active
from statemachine.store.values import Lease, RetryPolicy, check_seconds

__all__ = ["AsyncWorker"]


class AsyncWorker:
    """Executes runs of `workflows` from `store` on the running event loop.

    Args:
        workflows: the workflows whose runs this worker may execute, found by name.
        store: where the runs are (default: the first workflow's store).
        concurrency: how many units may run at once (1 to 100,000).
        retry: how often a failing unit is retried, and the backoff between tries.
        poll_seconds: how long the worker waits, when it found no work, before looking again;
            each further empty look doubles the wait, up to `idle_seconds`. Work resets it.
        sweep_seconds: how often (with +-25% jitter) it fires due timeouts and reaps expired
            leases.
        idle_seconds: the longest wait between looks for work.

    Attributes:
        counts: what the worker did (see `Tally`).

    Raises:
        InvalidArgument: no workflows, two with one name, or a setting out of range.
    """

    def __init__(
        self,
        workflows: Sequence[Workflow],
        store: Store | None = None,
        *,
        concurrency: int = 100,
        retry: RetryPolicy | None = None,
        poll_seconds: float = 0.05,
        sweep_seconds: float = 1.0,
        idle_seconds: float = 1.0,
        keep_finished: float | None = None,
    ) -> None:
        checked = settings(
            workflows, store, concurrency, 100_000, retry, poll_seconds, sweep_seconds
        )
        self._idle = Idle(checked[4], check_seconds("idle_seconds", idle_seconds, 0, 3600))
        self.store, self.workflows, self.concurrency, self.retry = checked[:4]
        self.poll_seconds, self.sweep_seconds = checked[4:]
        self._tally = Tally(self.retry)
        self.keep_finished = (
            None if keep_finished is None
            else check_seconds("keep_finished", keep_finished, 0, 100 * 365 * 86400)
        )  # fmt: skip

    @property
    def counts(self) -> Counter[str]:
        return self._tally.counts

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then finish the units under way, release, and return.

        One loop claims while a slot is free; each claimed run is a task of its own.
        """
        slots = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()
        sweeper = asyncio.create_task(self._sweeps(stop))
        try:
            while not stop.is_set():
                await slots.acquire()
                lease = None if stop.is_set() else await self._claim(stop)
                if lease is None:  # stopping, or nothing to claim (after a wait)
                    slots.release()
                    continue
                task = asyncio.create_task(self._unit(lease, slots))
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
            self._tally.summarise(force=True)

    async def _claim(self, stop: asyncio.Event) -> Lease | None:
        """A claimed run, or None after waiting a poll (or a back-off, when the store is away)."""
        try:
            lease = await self.store.aclaim(workflows=self.workflows)
        except StoreError as exc:
            self._tally.once(f"store:{type(exc).__name__}", "worker: %s", exc)
            await _wait(stop, min(1.0, self.poll_seconds * 10))
            return None
        except Exception:  # a bug must not take the worker down, nor leave its units unwatched
            self._tally.once("claim:unexpected", "worker: unexpected error claiming; going on",
                             traceback=True)  # fmt: skip
            self._tally.count("errors")
            await _wait(stop, min(1.0, self.poll_seconds * 10))
            return None
        if lease is None:
            await self.store.aidle(stop, self._idle.wait())  # returns early when work comes
        else:
            self._idle.worked()
        return lease

    async def _unit(self, lease: Lease, slots: asyncio.Semaphore) -> None:
        try:
            async with self.store.aworking(lease):
                await acarry_out(unit(lease, self.workflows, self._tally), self._effect)
        except StoreError as exc:
            self._tally.once(f"store:{type(exc).__name__}", "worker: %s", exc)
        except Exception:  # a bug must not silently take the worker down
            log.exception("worker: unexpected error; going on")
            self._tally.count("errors")
        finally:
            slots.release()

    async def _effect(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Load:
            return await self.store.aload_claimed(effect.lease)
        if kind is Execute:
            return await effect.workflow.arun_unit(
                effect.lease, self.retry, give_back=True, run=effect.run
            )
        if kind is Letter:
            return await self.store.adead_letter(effect.lease, effect.reason)
        assert kind is Fail
        now, retry, reason = await self.store.anow(), self.retry, effect.reason
        change = lambda run: failed(run, reason, retry, now)  # noqa: E731
        return await self.store.aupdate(effect.lease.run_id, change, lease=effect.lease)

    async def sweep(self) -> None:
        """Fire due timeouts and reap expired leases, now."""
        started = time.monotonic()
        self._tally.swept("timeouts", await self.store.aexpire_due())
        self._tally.swept("reaped", await self.store.areap(self.retry))
        if any(workflow.hooks for workflow in self.workflows.values()):
            served = self.workflows.values()
            notified = await asyncio.to_thread(deliver_due, served, self.store)
            self._tally.count("notified", notified)
        keep = self.keep_finished if self.keep_finished is not None else self.store.keep_finished
        if keep is not None:  # the finished runs' time to live
            gone = await self.store.anow() - timedelta(seconds=keep)
            self._tally.swept("purged", await self.store.apurge(gone, limit=PURGED_PER_SWEEP))
        metered = active()
        if metered is not None:
            metered.swept(started)
        self._tally.summarise()

    async def _sweeps(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except StoreError as exc:
                self._tally.once(f"sweep:{type(exc).__name__}", "worker: %s", exc)
            except Exception:
                log.exception("worker: unexpected error in a sweep; going on")
                self._tally.count("errors")
            await _wait(stop, self.sweep_seconds * random.uniform(0.75, 1.25))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
