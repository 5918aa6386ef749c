"""The file store's operations through its indexes, as plans: pages and dead letters, claims
and sweeps of due timeouts read the indexes in order and stop when they have enough, so they
cost what they return, not what the store holds.

Every entry read is checked against the header of the snapshot it names (`FileStore._stored`):
an entry the snapshot does not list is stale (left by a writer that died, or ahead of a write
in progress) and is passed over, and removed under the run's write lock if it is still stale
there. A run met twice (through an old and a new entry during a write) is listed once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from statemachine.core.errors import CorruptRun, RunBusy, RunNotFound, StoreError
from statemachine.core.record import RunRecord
from statemachine.store import LOG, STATES, Lease, RunList, Store, check_page, plans, served
from statemachine.store.logs import log_once
from statemachine.store.plans import NOW, Plan

from ..locks import RunLocks
from .layout import Entry, Stored, micros, workflow_directory
from .tree import Tree

__all__ = ["Do", "Indexes"]

_FIRST_CLAIMS = 8  # candidates read at first; four times more each round all are taken
_SWEEP_BATCH = 100


class Do(NamedTuple):
    """Call `work()`; in a thread under asyncio (to its end if it `changes` something)."""

    work: Callable[[], Any]
    changes: bool = False


class Indexes(Store):
    """The index-backed plans of `FileStore`."""

    path: Path
    indexed: bool
    _tree: Tree
    _locks: RunLocks
    _loaded: Callable[[str], tuple[RunRecord, Stored]]
    _stored: Callable[[str], Stored]
    unlist: Callable[[str, frozenset[Entry]], None]
    exists: Callable[[], None]

    def plan_page(
        self, state: str | None, limit: int, offset: int, oldest_first: bool = False
    ) -> Plan[RunList]:
        """Runs, most recently changed first (or last): one end of each state's index, merged."""
        if not self.indexed:
            return (yield from plans.page(state, limit, offset, oldest_first))
        check_page(state, limit, offset)
        indexes = [f"state/{each}" for each in (STATES if state is None else (state,))]
        window = partial(self._window, indexes, limit, offset, oldest_first)
        return (yield Do(window))  # type: ignore[no-any-return]

    def plan_dead(self, limit: int, offset: int, oldest_first: bool = False) -> Plan[RunList]:
        """Dead-lettered runs, most recently changed first (or last), from the dead index."""
        if not self.indexed:
            failed = yield from plans.page("failed", 1000, 0, oldest_first)
            return plans.dead(failed, limit, offset)
        check_page(None, limit, offset)
        return (yield Do(partial(self._window, ["dead"], limit, offset, oldest_first)))  # type: ignore[no-any-return]

    def plan_claim(
        self, now: datetime | None, workflows: Collection[str] | None
    ) -> Plan[Lease | None]:
        """Take the lease of the longest-waiting runnable run of `workflows`, or None: the
        heads of their ready indexes, tried in order; runs held by others are passed over,
        and more of the indexes read only when all those read were held."""
        if not self.indexed:
            return (yield from plans.claim(now, workflows))
        names = served(workflows)
        at = now if now is not None else (yield NOW)
        return (yield Do(partial(self._claim, names, micros(at)), changes=True))  # type: ignore[no-any-return]

    def plan_expire_due(self, now: datetime | None) -> Plan[list[str]]:
        """Apply every due timeout, found through the deadline index in batches; an entry
        that was not due after all is removed if its snapshot no longer lists it."""
        if not self.indexed:
            return (yield from plans.expire_due(now))
        at = now if now is not None else (yield NOW)
        fired: list[str] = []
        seen: set[tuple[int, str]] = set()
        while True:
            due = yield Do(partial(self._due, micros(at), _SWEEP_BATCH + len(seen)))
            batch = [item for item in due if item not in seen]
            if not batch:
                return fired
            for key, run_id in batch:
                seen.add((key, run_id))
                if (yield from plans.expire_one(run_id, at)):
                    fired.append(run_id)
                else:  # not due after all: a stale entry, or a timeout applied meanwhile
                    yield Do(partial(self._drop, Entry("deadline", key), run_id), changes=True)

    # What the plans do in one call each (in a thread under asyncio)

    def _window(self, indexes: list[str], limit: int, offset: int, oldest_first: bool) -> RunList:
        """Entries `offset` to `offset + limit` of the merged `indexes`, latest (or earliest)
        first."""
        self.exists()
        walk = self._tree.ascending if oldest_first else self._tree.descending
        streams = [_tagged(index, walk(index)) for index in indexes]
        runs = RunList()
        seen: set[str] = set()
        passed = 0
        for key, run_id, index in heapq.merge(*streams, reverse=not oldest_first):
            if run_id in seen:
                continue
            try:
                run, stored = self._loaded(run_id)
            except RunNotFound:
                self._drop(Entry(index, key), run_id)
                continue
            except CorruptRun as exc:
                seen.add(run_id)
                self.skipped(run_id, exc)
                runs.unreadable.append(exc)
                continue
            if Entry(index, key) not in stored.entries:
                self._drop(Entry(index, key), run_id)
                continue
            seen.add(run_id)
            if passed < offset:
                passed += 1
                continue
            runs.append(run)
            if len(runs) >= limit:
                break
        return runs

    def _due(self, at: int, count: int) -> list[tuple[int, str]]:
        """The first `count` entries of the deadline index before `at`, earliest first."""
        self.exists()
        return list(islice(self._tree.ascending("deadline", below=at), count))

    def _claim(self, names: frozenset[str] | None, at: int) -> Lease | None:
        self.exists()
        directories = (
            self._tree.indexes("ready")
            if names is None
            else sorted({workflow_directory(name) for name in names})
        )
        tried: set[tuple[int, str, str]] = set()
        count = _FIRST_CLAIMS
        while True:
            candidates: list[tuple[int, str, str]] = []
            for directory in directories:
                for kind, below in (("now", None), ("later", at + 1)):
                    index = f"ready/{directory}/{kind}"
                    found = islice(self._tree.ascending(index, below), count)
                    candidates += _tagged(index, found)
            candidates = sorted(candidates)[:count]
            for candidate in candidates:
                if candidate not in tried:
                    tried.add(candidate)
                    lease = self._take(Entry(candidate[2], candidate[0]), candidate[1])
                    if lease is not None:
                        return lease
            if len(candidates) < count:
                return None
            count *= 4

    def _take(self, entry: Entry, run_id: str) -> Lease | None:
        """The run's lease if it is free and its snapshot still lists `entry` (it is still
        runnable), else None; a run that cannot be read is passed over (logged once)."""
        try:
            lease = self._locks.take(run_id)
        except RunBusy:
            return None
        try:
            listed = entry in self._stored(run_id).entries
        except RunNotFound:
            listed = False
        except CorruptRun as exc:
            self._locks.give_back(lease)
            self.skipped(run_id, exc)
            return None
        except BaseException:
            self._locks.give_back(lease)
            raise
        if listed:
            return lease
        self._locks.give_back(lease)
        self._drop(entry, run_id)
        return None

    def _drop(self, entry: Entry, run_id: str) -> None:
        """Remove `entry` if, under the run's write lock, its snapshot does not list it (a
        snapshot that cannot be read keeps its entries: they are all that lists it)."""
        try:
            with self._locks.locked(run_id, "write"):
                try:
                    if entry in self._stored(run_id).entries:
                        return
                except RunNotFound:
                    pass
                except CorruptRun:
                    return
                self.unlist(run_id, frozenset((entry,)))
        except StoreError as exc:  # a read-only copy of a store: the entry stays, passed over
            log_once(LOG, f"{self.path}:drop", "file store %s: leaving a stale index entry "
                     "(%s)", self.path, exc)  # fmt: skip


def _tagged(index: str, entries: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str, str]]:
    for key, run_id in entries:
        yield key, run_id, index
