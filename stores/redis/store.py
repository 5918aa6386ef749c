"""`RedisStore`: runs in Redis (a single server or a Cluster), every change one atomic script.

Theory of operation. A run is a hash beside its indexes, all in one partition of the key
space and so in one Cluster slot (`keys` has the layout). Every write is one Lua script
(`scripts/write.lua`) that checks the store's epoch (a server restarted empty is noticed),
the operation id (a replayed write answers "duplicate"), the version (compare-and-set) and,
for a fenced commit, the lease; then writes the snapshot and moves the run between indexes,
all at once. The times the indexes order by come from the server's clock (`TIME`), and
`now()` answers with it too (reckoned from the time the scripts answer with: `clock`), so
every process agrees on deadlines and leases, and no writer's clock can stall a run. An
execution takes its lease in the script that reads the run (a worker's claim picks the run in
that script too), and gives it back in its last write; one heartbeat (`beats`) renews every
lease the store holds.

Each operation is a plan (`statemachine.store.plans`) whose Redis effects (`client`) are
carried out by redis-py's client, or awaited on its asyncio client: the two APIs share every
line of logic. Nothing is ever unpickled: snapshots are JSON read by the library's converter.
"""

from __future__ import annotations

import asyncio
import re
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from statemachine.core.errors import InvalidArgument
from statemachine.core.record import RunRecord
from statemachine.store.protocol import Store
from statemachine.store.values import (
    STATES,
    Lease,
    check_commit,
    check_run_id,
    check_seconds,
)

from . import wake
from .beats import AsyncHeartbeat, Heartbeat
from .client import AsyncClient, Client, Cmd, Pipe, Script
from .clock import ServerClock
from .indexes import Indexes
from .keys import RunKeys
from .settings import RedisConfigWarning, check_eviction_policy, replication, settle
from .url import Target, build, target_of

if TYPE_CHECKING:
    import redis
    import redis.cluster

__all__ = ["RedisConfigWarning", "RedisStore"]

_PREFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
_STATES = frozenset(STATES)
_TRUE = ("1", "true", "yes")
_CACHED = 10_000
_REDIS = (Cmd, Pipe, Script)


class RedisStore(Indexes, Store):
    """Runs in Redis: one server, or a Cluster.

    Args:
        target: a URL (``redis://[user:password@]host:port/db``, ``rediss://`` for TLS; query
            options ``prefix``, ``partitions``, ``cluster=1``, ``lease_seconds``,
            ``retry_seconds``, ``allow_eviction=1``, ``max_run_bytes``, ``wait_replicas``,
            ``wait_timeout_ms``, and any of
            redis-py's, such as ``ssl_ca_certs``), or an existing ``redis.Redis`` /
            ``redis.cluster.RedisCluster`` client (then the asyncio API runs its calls in
            threads, having no asyncio client of its own).
        prefix: the key namespace (letters, digits, ``_ . : -``; no braces).
        partitions: how many partition hash tags to spread runs over (default 1 on a single
            server, 16 on a Cluster). Fixed for a prefix once set: stored under
            ``<prefix>:meta``.
        lease_seconds: how long an execution lease lasts without renewal (0.1 s to a day);
            `hold` renews it every third of that.
        retry_seconds: for how long connection errors are retried (with backoff) before
            `StoreUnavailable` (up to an hour). Every operation is safe to retry.
        allow_eviction: open a server whose ``maxmemory-policy`` may evict runs
            (``allkeys-*``). Refused otherwise: such a server loses runs silently.
        max_run_bytes: the largest encoded run a commit writes (None: no limit).
        wait_replicas: after each change, wait (``WAIT``) until that many replicas have it,
            or raise `ReplicationUncertain` (default 0: none; not on a Cluster).
        wait_timeout_ms: how long to wait for them (default 1000).

    Raises:
        InvalidArgument: a bad URL, prefix or option.
        UnsafeStoreConfiguration: the server may evict runs, and `allow_eviction` is off.
        StoreUnavailable: no server answers.
    """

    def __init__(
        self,
        target: str | redis.Redis | redis.cluster.RedisCluster,
        *,
        prefix: str | None = None,
        partitions: int | None = None,
        lease_seconds: float | None = None,
        retry_seconds: float | None = None,
        allow_eviction: bool | None = None,
        max_run_bytes: int | None = Store.max_run_bytes,
        wait_replicas: int | None = None,
        wait_timeout_ms: int | None = None,
    ) -> None:
        import redis  # the driver is imported only when a Redis store is built
        import redis.cluster

        options: dict[str, str] = {}
        self._target: Target | None = None
        if isinstance(target, str):
            self._target = target_of(target)
            driver, where, options = (
                build(self._target, asynchronous=False),
                repr(self._target.shown),
                self._target.ours,
            )
        elif isinstance(target, redis.Redis | redis.cluster.RedisCluster):
            driver, where = target, repr(type(target).__name__)
        else:
            raise InvalidArgument(f"RedisStore needs a URL or a redis client, not {target!r}")
        self._cluster = isinstance(driver, redis.cluster.RedisCluster)
        self.prefix = prefix if prefix is not None else options.get("prefix", "hitl")
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise InvalidArgument(
                f"invalid key prefix {self.prefix!r}: 1-64 letters, digits, '_', '.', ':' or '-'"
            )
        self.lease_seconds = check_seconds(
            "lease_seconds", _number(lease_seconds, options.get("lease_seconds"), 30.0), 0.1, 86400
        )
        self.retry_seconds = check_seconds(
            "retry_seconds", _number(retry_seconds, options.get("retry_seconds"), 5.0), 0, 3600
        )
        self.max_run_bytes = (
            _int("max_run_bytes", options["max_run_bytes"])
            if "max_run_bytes" in options
            else max_run_bytes
        )
        if allow_eviction is None:
            allow_eviction = options.get("allow_eviction", "").lower() in _TRUE
        self.allow_eviction = bool(allow_eviction)
        self.wait_replicas, self.wait_timeout_ms = replication(
            wait_replicas, wait_timeout_ms, options, self._cluster
        )
        self.client = Client(driver, where, self.retry_seconds)
        self._where = where
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        # An operation id must outlive every retry of its write: those come within the retry
        # window after a first attempt failed (by the socket timeout, 10 s unless set).
        self._remember_ops = str(int(self.retry_seconds) + 600)
        self._run_keys: dict[str, RunKeys] = {}
        self._clock = ServerClock()
        self._let_go: dict[str, None] = {}
        self._claimed: dict[str, bytes] = {}
        self._heartbeat = Heartbeat(
            self.lease_seconds / 3,
            lambda lease: self._run(self._renewed(lease)),
            f"leases-{self.prefix}",
        )
        self._aheartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncHeartbeat] = (
            weakref.WeakKeyDictionary()
        )
        self.client.call(lambda: check_eviction_policy(driver, self.allow_eviction, where))
        requested = partitions if partitions is not None else options.get("partitions")
        default = 16 if self._cluster else 1
        self.partitions, self.epoch = self.client.call(
            lambda: settle(driver, self.prefix, default, requested, where)
        )

    def __repr__(self) -> str:
        return f"RedisStore({self._where}, prefix={self.prefix!r})"

    def check_epoch(self) -> None:
        """Raise `StoreReset` if the store's data was lost since this object opened it (the
        server restarted empty, or the prefix was flushed). A store allowed to lose keys to
        eviction cannot tell, and does not check."""
        self._run(self._plan_check_epoch())

    def _keys(self, run_id: str) -> RunKeys:
        """The run's keys (tests inspect them)."""
        return self._run(self._plan_keys(run_id, None))

    # The primitives, synchronous and awaited

    def now(self) -> datetime:
        """The Redis server's clock, which every process using this store shares."""
        return self._run(self._plan_now())

    async def anow(self) -> datetime:
        return await self._arun(self._plan_now())

    def create(self, run: RunRecord) -> None:
        self._run(self._plan_put(run, "create", -1, None, None))

    async def acreate(self, run: RunRecord) -> None:
        await self._arun(self._plan_put(run, "create", -1, None, None))

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        check_commit(run, expected_version)
        self._run(self._plan_put(run, "commit", expected_version, lease, None))

    async def acommit(
        self, run: RunRecord, expected_version: int, *, lease: Lease | None = None
    ) -> None:
        check_commit(run, expected_version)
        await self._arun(self._plan_put(run, "commit", expected_version, lease, None))

    def _put(
        self,
        run: RunRecord,
        mode: str,
        expected: int,
        lease: Lease | None,
        operation: str | None = None,
    ) -> str:
        """A write with a given operation id (tests replay writes with it)."""
        return self._run(self._plan_put(run, mode, expected, lease, operation))

    def load(self, run_id: str) -> RunRecord:
        return self._run(self._plan_load(run_id))

    async def aload(self, run_id: str) -> RunRecord:
        return await self._arun(self._plan_load(run_id))

    def version(self, run_id: str) -> int:
        return self._run(self._plan_version(run_id))

    async def aversion(self, run_id: str) -> int:
        return await self._arun(self._plan_version(run_id))

    def acquire(self, run_id: str) -> Lease:
        return self._run(self._plan_acquire(run_id))[0]

    async def aacquire(self, run_id: str) -> Lease:
        return (await self._arun(self._plan_acquire(run_id)))[0]

    def acquire_reading(
        self, run_id: str, *, version_only: bool = False
    ) -> tuple[Lease, RunRecord | int]:
        """The lease and the run (or its version), taken and read in one script."""
        return self._run(self._plan_take(check_run_id(run_id), version_only))

    async def aacquire_reading(
        self, run_id: str, *, version_only: bool = False
    ) -> tuple[Lease, RunRecord | int]:
        from statemachine.store.finishing import cancelled_after, finish

        taking = self._arun(self._plan_take(check_run_id(run_id), version_only))
        (lease, read), cancelled = await finish(taking)
        if cancelled:
            await cancelled_after(self.alet_go(lease))
        return lease, read

    def load_claimed(self, lease: Lease) -> RunRecord:
        """The run as the claim that took `lease` read it, with the lease taken."""
        return self._run(self._plan_load_claimed(lease))

    async def aload_claimed(self, lease: Lease) -> RunRecord:
        return await self._arun(self._plan_load_claimed(lease))

    def commit_last(self, run: RunRecord, expected_version: int, *, lease: Lease) -> None:
        """The commit that ends a unit of work, giving its lease back in the same script."""
        check_commit(run, expected_version)
        self._run(self._plan_put(run, "commit", expected_version, lease, None, release=True))

    async def acommit_last(self, run: RunRecord, expected_version: int, *, lease: Lease) -> None:
        check_commit(run, expected_version)
        await self._arun(self._plan_put(run, "commit", expected_version, lease, None, True))

    def release(self, lease: Lease) -> None:
        self._run(self._plan_release(lease))

    async def arelease(self, lease: Lease) -> None:
        await self._arun(self._plan_release(lease))

    def run_ids(self) -> list[str]:
        return self._run(self.plan_run_ids())

    async def arun_ids(self) -> list[str]:
        return await self._arun(self.plan_run_ids())

    def forget_dangling(self, run_id: str) -> None:
        self._run(self.plan_forget(run_id))

    async def aforget_dangling(self, run_id: str) -> None:
        await self._arun(self.plan_forget(run_id))

    def idle(self, stop: threading.Event, seconds: float) -> None:
        wake.idle(self, stop, seconds)

    async def aidle(self, stop: Any, seconds: float) -> None:
        if not stop.is_set():  # a thread's wait, of a second at most, for the event loop
            await asyncio.to_thread(wake.idle, self, threading.Event(), seconds)

    def delete(self, run_id: str, expected_version: int) -> None:
        self._run(self.plan_delete(check_run_id(run_id), expected_version))

    async def adelete(self, run_id: str, expected_version: int) -> None:
        await self._arun(self.plan_delete(check_run_id(run_id), expected_version))

    def quarantine(self, run_id: str, reason: str) -> None:
        self._run(self.plan_quarantine(check_run_id(run_id), reason))

    async def aquarantine(self, run_id: str, reason: str) -> None:
        await self._arun(self.plan_quarantine(check_run_id(run_id), reason))

    # Leases kept alive while a run is executed

    @contextmanager
    def working(self, lease: Lease) -> Iterator[Lease]:
        """Renew the lease every third of its length while the body runs (one heartbeat
        thread renews every lease this store holds), then release it. If a renewal finds the
        lease lost, commits with it are refused from then on (`LeaseLost`)."""
        self._heartbeat.add(lease)
        try:
            yield lease
        finally:
            self._heartbeat.remove(lease)
            self.release(lease)

    @asynccontextmanager
    async def aworking(self, lease: Lease) -> AsyncIterator[Lease]:
        """`working`, with the heartbeat a task of the running event loop (one for every
        lease held through this store on that loop)."""
        loop = asyncio.get_running_loop()
        beats = self._aheartbeats.get(loop)
        if beats is None:
            renew = lambda held: self._arun(self._renewed(held))  # noqa: E731
            beats = self._aheartbeats[loop] = AsyncHeartbeat(self.lease_seconds / 3, renew)
        beats.add(lease)
        try:
            yield lease
        finally:
            beat = beats.remove(lease)
            try:
                if beat is not None:
                    await self.settled(asyncio.gather(beat, return_exceptions=True))
            finally:  # cancelled while the heartbeat stopped: the lease is still given back
                await self.alet_go(lease)

    # Carrying out plans

    def _effect(self, effect: Any) -> Any:
        if isinstance(effect, _REDIS):
            return self.client.carry(effect)
        return super()._effect(effect)

    async def _aeffect(self, effect: Any) -> Any:
        if isinstance(effect, _REDIS):
            client = self._aclient()
            if client is None:  # a client given to the store: no asyncio twin to use
                return await asyncio.to_thread(self.client.carry, effect)
            return await client.carry(effect)
        return await super()._aeffect(effect)

    def _aclient(self) -> AsyncClient | None:
        """The asyncio client of the running event loop (each loop needs its own)."""
        if self._target is None:
            return None
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            driver = build(self._target, asynchronous=True)
            client = self._aclients[loop] = AsyncClient(driver, self._where, self.retry_seconds)
        return client

    def close(self) -> None:
        """Close the connections this store opened (a client passed in is left open)."""
        if self._target is not None:
            self.client.driver.close()

    async def aclose(self) -> None:
        """Close this event loop's asyncio connections (await it before the loop ends: each
        loop has connections of its own). The synchronous client stays open: `close` it."""
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()


def _int(name: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer, not {str(value)[:40]!r}") from None


def _number(given: float | None, from_url: str | None, default: float) -> object:
    if given is not None:
        return given
    if from_url is None:
        return default
    try:
        return float(from_url)
    except ValueError:
        return from_url  # refused, with its name, by the range check
