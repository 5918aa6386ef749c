"""The store protocol: the few methods a persistence adapter implements.

A store keeps one `RunRecord` per run id. It implements six primitives, and may replace two
defaults; everything else a store does (`operations`) is built on them, once, for every store:

- `create(run)` stores a new run; an existing id raises `RunExists`.
- `load(run_id)` returns the run as stored, or raises `RunNotFound`; unreadable data raises
  `CorruptRun` naming where it is, never a foreign exception.
- `commit(run, expected_version, lease=None)` replaces the stored run only if its version is
  still `expected_version`, and `run.version` must be greater; otherwise `ConflictError`, and
  nothing is written. A failed write raises; it never half-writes. A run whose encoding is
  over `max_run_bytes` raises `RunTooLarge` before anything is written.
- `acquire(run_id)` gives one caller at a time the right to execute the run; a second caller
  gets `RunBusy` at once. `release(lease)` gives it back; so does the death of its process
  (or, for stores whose holds are leases, the end of the lease). A lease that can be lost
  fences the commits made with it: once lost they raise `LeaseLost` instead of writing.
- `run_ids()` lists the stored runs' ids: never an entry that is not a valid run id (such junk
  is logged once and skipped).
- `acquire_reading(run_id)` and `commit_last(run, expected, lease)`, which an execution
  starts and ends with, may take the lease and read the run in one request, and give the
  lease back in the last write (default: `acquire` then `load`; `commit`); `load_claimed`
  may answer with the run read by the claim that took the lease (default: `load`).
- `now()` is the store's clock (default: this host's). Whatever the store orders by (when a
  run becomes runnable, leases) is anchored on it, never on the clock of the process that
  wrote. `close()` lets go of what the store holds open (default: nothing).

The asyncio API awaits `acreate`, `aload`, ... : by default the primitive runs in a thread,
so that the event loop never blocks on the store; a store with a native asynchronous driver
(Redis) replaces them. The public contract (`statemachine.testing.check_store`) checks any
store against the reference store, through both APIs.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from statemachine.core.codec import MAX_RUN_BYTES
from statemachine.core.errors import CorruptRun, InvalidArgument, RunNotFound, shorten
from statemachine.core.record import RunRecord
from statemachine.store import plans
from statemachine.store.logs import log_once
from statemachine.store.operations import Operations
from statemachine.store.values import LOG, Lease, check_run_id

__all__ = ["Store"]

T = TypeVar("T")


async def _in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    import asyncio  # here: a program that never awaits a store never loads asyncio

    return await asyncio.to_thread(function, *args, **kwargs)


class Store(Operations):
    """Where runs live. A store implements the primitives (see the module docstring); the
    operations (`get`, `decide`, `claim`, ... and their awaited twins) come with it.

    Attributes:
        max_run_bytes: the largest encoded run a commit writes (`RunTooLarge` above it), or
            None for no limit. Stores take it as a keyword argument.
    """

    max_run_bytes: int | None = MAX_RUN_BYTES
    awaits_io = True
    """Whether the awaited primitives wait (in a thread, on a server): if so, a write or a
    lease in flight is awaited to its end when the awaiting task is cancelled."""

    # The protocol

    @abstractmethod
    def create(self, run: RunRecord) -> None:
        """Store a new run. Raises `RunExists` if the id is taken."""

    @abstractmethod
    def load(self, run_id: str) -> RunRecord:
        """The run as stored, with no timeout applied. Raises `RunNotFound`."""

    @abstractmethod
    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        """Replace the stored run if it is still at `expected_version`. Raises `ConflictError`.

        With a `lease` (from `acquire`), also refuse with `LeaseLost` if the lease was lost.
        """

    @abstractmethod
    def acquire(self, run_id: str) -> Lease:
        """Take the exclusive right to execute the run. Raises `RunBusy` if someone holds it.

        Pair it with `release`, or use `hold` / `working`, which release for you.
        """

    @abstractmethod
    def release(self, lease: Lease) -> None:
        """Give the run back. Releasing a lease that was lost or released already is a no-op."""

    @abstractmethod
    def run_ids(self) -> list[str]:
        """The ids of every stored run, in no particular order."""

    def acquire_reading(
        self, run_id: str, *, version_only: bool = False
    ) -> tuple[Lease, RunRecord | int]:
        """`acquire`, then `load` (or `version`) with the lease held: how an execution starts.
        A store may do both in one request. Raises as they do, holding nothing."""
        lease = self.acquire(run_id)
        try:
            return lease, self.version(run_id) if version_only else self.load(run_id)
        except BaseException:
            self.release(lease)
            raise

    def load_claimed(self, lease: Lease) -> RunRecord:
        """The run whose lease `claim` just gave: a store may have read it with the claim
        itself. The default loads it."""
        return self.load(lease.run_id)

    def commit_last(self, run: RunRecord, expected_version: int, *, lease: Lease) -> None:
        """`commit` fenced by `lease`, as the last write of the holder's work: a store may give
        the lease back in the same write. The holder releases it after all the same (then at
        no cost). The default commits."""
        self.commit(run, expected_version, lease=lease)

    def now(self) -> datetime:
        """The store's clock: timezone-aware, UTC. The default is this host's clock."""
        return datetime.now(UTC)

    def close(self) -> None:
        """Release what the store holds open. The default has nothing to release."""

    async def aclose(self) -> None:
        """Release what the store holds open for the running event loop (a Redis store's
        asyncio connections): await it before the loop ends. Also ``async with store:``."""
        self.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # Optional: faster, or richer, where a store can

    def version(self, run_id: str) -> int:
        """The stored run's version (a store may read it without decoding the whole run)."""
        return self.load(run_id).version

    def written_at(self, run: RunRecord) -> datetime:
        """When the run was last written, by the store's clock (default: its `updated_at`)."""
        return run.updated_at

    def scan(self) -> Iterator[tuple[RunRecord, datetime]]:
        """Every readable run with the time of its last write by the store's clock; a run that
        cannot be read is logged once and left out."""
        for run_id in self.run_ids():
            try:
                run = self.load(run_id)
            except RunNotFound:
                continue
            except CorruptRun as exc:
                self.skipped(run_id, exc)
                continue
            yield run, self.written_at(run)

    keep_finished: float | None = None
    """Seconds a finished run is kept before the workers' sweeps remove it (`purge`); None:
    for ever. A `Worker`'s own `keep_finished` wins over it."""

    def delete(self, run_id: str, expected_version: int) -> None:
        """Remove a run for good (`Store.purge` asks it only of finished runs), if it is still
        at `expected_version`, and leave a tombstone: whatever a slow process does later, a
        `create` with its id is refused (`RunExists`) and a `commit` of it (`RunNotFound`).

        Raises:
            VersionConflict: the run changed since it was read.
            RunNotFound: there is no such run.
            InvalidArgument: this store cannot remove runs (the default).
        """
        raise InvalidArgument(f"{type(self).__name__} cannot remove runs")

    def idle(self, stop: threading.Event, seconds: float) -> None:
        """Wait up to `seconds` (or until `stop`) for work, as an idle worker does: the
        default just waits; a store that can tell when a run becomes runnable (Redis) returns
        as soon as one does. Either way the worker looks again: polling stays the safety net."""
        stop.wait(seconds)

    def forget_dangling(self, run_id: str) -> None:
        """A run listed by an index is gone (evicted, deleted by hand): a store with indexes
        removes its entries. The default has no indexes."""

    def quarantine(self, run_id: str, reason: str) -> None:
        """Set aside a run that cannot be read, so that no claim returns it again. Stores whose
        claims read the runs (and so skip unreadable ones) have nothing to do."""

    def skipped(self, run_id: str, reason: Exception) -> None:
        """Say, once, that a run was left out because it could not be read."""
        log_once(LOG, f"{id(self)}:{run_id}", "skipping run %s: %s", shorten(run_id), reason)

    @contextmanager
    def working(self, lease: Lease) -> Iterator[Lease]:
        """Keep `lease` while the body runs (a store with expiring leases renews it), then
        release it."""
        try:
            yield lease
        finally:
            self.release(lease)

    @contextmanager
    def hold(self, run_id: str) -> Iterator[Lease]:
        """Hold the exclusive right to execute `run_id` for the body. Raises `RunBusy`."""
        with self.working(self.acquire(check_run_id(run_id))) as lease:
            yield lease

    # The protocol, awaited: in a thread unless a store has a native asynchronous driver

    async def acreate(self, run: RunRecord) -> None:
        await _in_thread(self.create, run)

    async def aload(self, run_id: str) -> RunRecord:
        return await _in_thread(self.load, run_id)

    async def acommit(
        self, run: RunRecord, expected_version: int, *, lease: Lease | None = None
    ) -> None:
        await _in_thread(self.commit, run, expected_version, lease=lease)

    async def aacquire(self, run_id: str) -> Lease:
        return await _in_thread(self.acquire, run_id)

    async def arelease(self, lease: Lease) -> None:
        await _in_thread(self.release, lease)

    async def aacquire_reading(
        self, run_id: str, *, version_only: bool = False
    ) -> tuple[Lease, RunRecord | int]:
        """`acquire_reading`, awaited: a task cancelled meanwhile waits for the taking to end,
        and gives the lease back."""
        lease = await self._ataken(self.aacquire(run_id))
        try:
            read = self.aversion(run_id) if version_only else self.aload(run_id)
            return lease, await read
        except BaseException:
            await self.alet_go(lease)
            raise

    async def aload_claimed(self, lease: Lease) -> RunRecord:
        return await self.aload(lease.run_id)

    async def acommit_last(self, run: RunRecord, expected_version: int, *, lease: Lease) -> None:
        await self.acommit(run, expected_version, lease=lease)

    async def arun_ids(self) -> list[str]:
        return await _in_thread(self.run_ids)

    async def anow(self) -> datetime:
        if type(self).now is Store.now:  # the host's clock: nothing to wait for
            return self.now()
        return await _in_thread(self.now)

    async def aversion(self, run_id: str) -> int:
        return await _in_thread(self.version, run_id)

    async def ascan(self) -> list[tuple[RunRecord, datetime]]:
        return await _in_thread(lambda: list(self.scan()))

    async def adelete(self, run_id: str, expected_version: int) -> None:
        await _in_thread(self.delete, run_id, expected_version)

    async def aidle(self, stop: Any, seconds: float) -> None:
        """`idle`, awaited (`stop`: an `asyncio.Event`)."""
        import asyncio
        import contextlib

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def aforget_dangling(self, run_id: str) -> None:
        await _in_thread(self.forget_dangling, run_id)

    async def aquarantine(self, run_id: str, reason: str) -> None:
        await _in_thread(self.quarantine, run_id, reason)

    @asynccontextmanager
    async def aworking(self, lease: Lease) -> AsyncIterator[Lease]:
        """`working`, awaited: the lease is released even if the task is cancelled."""
        try:
            yield lease
        finally:
            await self.alet_go(lease)

    @asynccontextmanager
    async def ahold(self, run_id: str) -> AsyncIterator[Lease]:
        """`hold`, awaited. A task cancelled while the lease is being taken waits for the
        taking to end and gives the lease back, so that nothing stays held."""
        lease = await self._ataken(self.aacquire(check_run_id(run_id)))
        async with self.aworking(lease) as held:
            yield held

    async def _ataken(self, taking: Awaitable[Lease]) -> Lease:
        """A lease being taken, awaited to its end; if this task was cancelled meanwhile, the
        lease is given back and the cancellation taken."""
        if not self.awaits_io:
            return await taking
        from statemachine.store.finishing import cancelled_after, finish

        lease, cancelled = await finish(taking)
        if cancelled:
            await cancelled_after(self.alet_go(lease))
        return lease

    async def alet_go(self, lease: Lease) -> None:
        """Release `lease`, to the end even if this task is cancelled meanwhile."""
        await self.settled(self.arelease(lease))

    async def settled(self, change: Awaitable[T]) -> T:
        """Await `change` (a write, a lease taken or given back) to its end even if this task
        is cancelled meanwhile, then take the cancellation: begun in a thread or on a
        server, it goes on anyway, and must not land after the caller moved on."""
        if not self.awaits_io:
            return await change
        from statemachine.store.finishing import through

        return await through(change)

    # Carrying out plans

    def _effect(self, effect: Any) -> Any:
        answers = self.__dict__.get("_answers")
        if answers is None:  # made once per store: which primitive answers which effect
            answers = self.__dict__["_answers"] = {
                plans.Load: lambda e: self.load(e.run_id),
                plans.Commit: lambda e: (self.commit_last if e.last else self.commit)(
                    e.run, e.expected, lease=e.lease
                ),
                plans.Now: lambda _: self.now(),
                plans.Ids: lambda _: self.run_ids(),
                plans.Acquire: lambda e: self.acquire(e.run_id),
                plans.Scan: lambda _: list(self.scan()),
                plans.Forget: lambda e: self.forget_dangling(e.run_id),
                plans.Delete: lambda e: self.delete(e.run_id, e.expected),
                plans.Skipped: lambda e: self.skipped(e.run_id, e.reason),
                plans.SetAside: lambda e: self.quarantine(e.run_id, e.reason),
            }
        answer = answers.get(type(effect))
        if answer is None:
            raise TypeError(f"{type(self).__name__} cannot carry out {effect!r}")
        return answer(effect)

    async def _aeffect(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is plans.Load:
            return await self.aload(effect.run_id)
        if kind is plans.Commit:
            commit = self.acommit_last if effect.last else self.acommit
            return await self.settled(commit(effect.run, effect.expected, lease=effect.lease))
        if kind is plans.Now:
            return await self.anow()
        if kind is plans.Ids:
            return await self.arun_ids()
        if kind is plans.Acquire:
            return await self.settled(self.aacquire(effect.run_id))
        if kind is plans.Scan:
            return await self.ascan()
        if kind is plans.Forget:
            return await self.aforget_dangling(effect.run_id)
        if kind is plans.Delete:
            return await self.settled(self.adelete(effect.run_id, effect.expected))
        if kind is plans.Skipped:
            return self.skipped(effect.run_id, effect.reason)
        if kind is plans.SetAside:
            return await self.aquarantine(effect.run_id, effect.reason)
        raise TypeError(f"{type(self).__name__} cannot carry out {effect!r}")
