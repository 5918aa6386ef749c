"""`MemoryStore`: the reference store, runs in a dict in this process; also the test oracle.

It refuses exactly what the durable stores refuse: every commit is encoded (and thrown away)
so that a run too large, or holding something the wire format cannot carry, fails here as it
would on disk or in Redis, and not for the first time in production. That costs about 9 µs a
commit; `max_run_bytes=None` skips it, for the fastest store that no longer refuses the same.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

from statemachine.core.codec import encode_run
from statemachine.core.errors import RunBusy, RunExists, RunNotFound, VersionConflict
from statemachine.core.record import RunRecord
from statemachine.store.protocol import Store
from statemachine.store.values import Lease, check_commit, check_run_id

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """The reference store: runs in a dict, in this process only. Also the test oracle.

    Args:
        max_run_bytes: the largest encoded run a commit accepts. None: no limit, and no
            encoding at all (faster, but a run the durable stores would refuse is kept).
    """

    awaits_io = False  # its awaited primitives never wait: nothing is ever in flight

    def __init__(self, *, max_run_bytes: int | None = Store.max_run_bytes) -> None:
        self.max_run_bytes = max_run_bytes
        self._runs: dict[str, RunRecord] = {}
        self._written: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}
        self._purged: set[str] = set()  # tombstones: removed runs never come back
        self._tokens = itertools.count(1)  # a lease token need only be unique in this store

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._runs)} runs)"

    def create(self, run: RunRecord) -> None:
        check_run_id(run.run_id)
        if self.max_run_bytes is not None:
            encode_run(run, self.max_run_bytes)
        now = self.now()
        with self._lock:
            if run.run_id in self._runs or run.run_id in self._purged:
                raise RunExists(run.run_id)
            self._runs[run.run_id] = run
            self._written[run.run_id] = now

    def load(self, run_id: str) -> RunRecord:
        try:
            return self._runs[check_run_id(run_id)]
        except KeyError:
            raise RunNotFound(run_id) from None

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        check_commit(run, expected_version)
        if self.max_run_bytes is not None:
            encode_run(run, self.max_run_bytes)
        with self._lock:
            stored = self._runs.get(run.run_id)
            if stored is None:
                raise RunNotFound(run.run_id)
            if stored.version != expected_version:
                raise VersionConflict(run.run_id, expected_version, stored.version)
            self._runs[run.run_id] = run
            self._written[run.run_id] = self.now()

    def delete(self, run_id: str, expected_version: int) -> None:
        check_run_id(run_id)
        with self._lock:
            stored = self._runs.get(run_id)
            if stored is None:
                raise RunNotFound(run_id)
            if stored.version != expected_version:
                raise VersionConflict(run_id, expected_version, stored.version)
            if run_id in self._held:
                raise RunBusy(run_id)
            del self._runs[run_id]
            self._written.pop(run_id, None)
            self._purged.add(run_id)

    async def adelete(self, run_id: str, expected_version: int) -> None:
        self.delete(run_id, expected_version)

    def written_at(self, run: RunRecord) -> datetime:
        return self._written.get(run.run_id, run.updated_at)

    def acquire(self, run_id: str) -> Lease:
        # Held for as long as this process lives: no lease to lose, so no fence needed.
        check_run_id(run_id)
        with self._lock:
            if run_id not in self._runs:
                raise RunNotFound(run_id)
            if run_id in self._held:
                raise RunBusy(run_id)
            lease = Lease(run_id, str(next(self._tokens)), 0)
            self._held[run_id] = lease.token
        return lease

    def release(self, lease: Lease) -> None:
        with self._lock:
            if self._held.get(lease.run_id) == lease.token:
                del self._held[lease.run_id]

    def run_ids(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    # Nothing here waits on I/O: the asyncio API calls the same methods, without a thread.

    async def acreate(self, run: RunRecord) -> None:
        self.create(run)

    async def aload(self, run_id: str) -> RunRecord:
        return self.load(run_id)

    async def acommit(
        self, run: RunRecord, expected_version: int, *, lease: Lease | None = None
    ) -> None:
        self.commit(run, expected_version, lease=lease)

    async def aacquire(self, run_id: str) -> Lease:
        return self.acquire(run_id)

    async def arelease(self, lease: Lease) -> None:
        self.release(lease)

    async def arun_ids(self) -> list[str]:
        return self.run_ids()

    async def aversion(self, run_id: str) -> int:
        return self.version(run_id)

    async def ascan(self) -> list[tuple[RunRecord, datetime]]:
        return list(self.scan())
