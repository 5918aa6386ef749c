"""The SQLite store's operations through its indexes, as plans: pages and dead letters, claims
and sweeps of due timeouts cost what they find, not what the store holds.

Each query reads an index in its order and stops when it has enough (`_top`), so a page of 50
reads 50 entries and 50 rows whatever the table holds; a claim reads the head of one ready
index per workflow served; a sweep reads the due end of the deadline index. A row whose id is
not a run id (put there by hand) is logged once and passed over; a row whose snapshot cannot
be read is left out of a listing and reported in its `unreadable`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from statemachine.core.errors import CorruptRun
from statemachine.core.record import RunRecord
from statemachine.core.runs import expire
from statemachine.store import plans
from statemachine.store.logs import log_once
from statemachine.store.plans import NOW, Plan
from statemachine.store.values import LOG, STATES, Lease, RunList, check_page, is_run_id, served

from .database import micros

__all__ = ["Claim", "Commits", "Indexes", "Read", "junk"]

_FIRST_CLAIMS = 8  # candidates read at first; four times more each round all are taken
_SWEEP_BATCH = 100
_CHUNK = 500  # ids per `IN (...)`: well under SQLite's limit on bound values


class Read(NamedTuple):
    """`query(connection)`'s answer (in one read transaction, with `snapshot`)."""

    query: Callable[[sqlite3.Connection], Any]
    snapshot: bool = False


class Commits(NamedTuple):
    """Compare-and-set each (run, expected version) in one transaction; the ids of the runs
    written (a run that moved on meanwhile, or cannot be encoded, is left out)."""

    changes: list[tuple[RunRecord, int]]


class Claim(NamedTuple):
    """The run's execution lease if it is free and still runnable at `at` (µs), else None."""

    run_id: str
    at: int


Row = tuple[str, bytes, Any]
"""A run's id, its snapshot, and why it was set aside (or None)."""


def junk(path: Path, run_id: object) -> bool:
    """Whether `run_id`, read from the table, is not a run id (logged once if so)."""
    if isinstance(run_id, str) and is_run_id(run_id):
        return False
    log_once(LOG, f"{path}:{run_id!r}", "SQLite store %s: passing over a row whose run_id %r "
             "is not a run id", path, str(run_id)[:80])  # fmt: skip
    return True


def _top(
    path: Path, connection: sqlite3.Connection, sql: str, args: tuple[Any, ...], count: int
) -> list[tuple[Any, str]]:
    """The first `count` (key, run id) pairs `sql` gives, read in its order, junk passed over."""
    found: list[tuple[Any, str]] = []
    cursor = connection.execute(sql, args)
    try:
        for key, run_id in cursor:
            if type(key) is not int or junk(path, run_id):
                continue
            found.append((key, run_id))
            if len(found) >= count:
                break
    finally:
        cursor.close()
    return found


def _snapshots(connection: sqlite3.Connection, run_ids: list[str]) -> list[Row]:
    """The rows of `run_ids`, in that order (a run gone meanwhile is left out)."""
    rows: dict[str, Row] = {}
    for start in range(0, len(run_ids), _CHUNK):
        chunk = run_ids[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT run_id, CAST(data AS BLOB), dead FROM runs WHERE run_id IN ({marks})"
        rows.update((row[0], row) for row in connection.execute(sql, chunk))
    return [rows[run_id] for run_id in run_ids if run_id in rows]


_BY_STATE = "SELECT changed, run_id FROM runs WHERE state = ? ORDER BY changed {0}, run_id {0}"
_DEAD = "SELECT changed, run_id FROM runs WHERE dead IS NOT NULL ORDER BY changed {0}, run_id {0}"
_READY = (  # runnable at once, or runnable by now: two ranges of the index, each in order
    "SELECT ready_at, run_id FROM runs WHERE workflow = ? AND immediate = 1"
    " AND ready_at IS NOT NULL ORDER BY ready_at, run_id LIMIT ?",
    "SELECT ready_at, run_id FROM runs WHERE workflow = ? AND immediate = 0"
    " AND ready_at IS NOT NULL AND ready_at <= ? ORDER BY ready_at, run_id LIMIT ?",
)
_FIRST_WORKFLOW = "SELECT workflow FROM runs WHERE ready_at IS NOT NULL ORDER BY workflow LIMIT 1"
_NEXT_WORKFLOW = (
    "SELECT workflow FROM runs WHERE ready_at IS NOT NULL AND workflow > ?"
    " ORDER BY workflow LIMIT 1"
)
_DUE = "SELECT deadline, run_id FROM runs WHERE deadline < ? ORDER BY deadline, run_id"


def _window(
    path: Path, queries: Iterable[tuple[str, tuple[Any, ...]]], limit: int, offset: int,
    oldest_first: bool, connection: sqlite3.Connection,
) -> list[Row]:  # fmt: skip
    """The rows of entries `offset` to `offset + limit` of the merged `queries`, latest (or
    earliest) first; each query's ``{0}`` is the order."""
    order = "ASC" if oldest_first else "DESC"
    entries: list[tuple[Any, str]] = []
    for sql, args in queries:
        entries += _top(path, connection, sql.format(order), args, offset + limit)
    entries.sort(reverse=not oldest_first)
    return _snapshots(connection, [run_id for _, run_id in entries[offset : offset + limit]])


def _ready(
    path: Path, workflows: frozenset[str] | None, at: int, count: int,
    connection: sqlite3.Connection,
) -> list[tuple[int, str]]:  # fmt: skip
    """The first `count` runnable runs of `workflows` (None: any), longest waiting first."""
    names: Iterable[str]
    if workflows is None:  # the workflows with runnable runs: one step of the index each
        names = []
        found = connection.execute(_FIRST_WORKFLOW).fetchone()
        while found is not None:
            names.append(found[0])
            found = connection.execute(_NEXT_WORKFLOW, found).fetchone()
    else:
        names = sorted(workflows)
    candidates: list[tuple[int, str]] = []
    for name in names:
        candidates += _top(path, connection, _READY[0], (name, count), count)
        candidates += _top(path, connection, _READY[1], (name, at, count), count)
    return sorted(candidates)[:count]


def _due(path: Path, at: int, count: int, connection: sqlite3.Connection) -> list[Row]:
    """The rows of the first `count` runs whose deadline is before `at`, earliest first."""
    return _snapshots(connection, [run_id for _, run_id in _top(path, connection, _DUE, (at,),
                                                                count)])  # fmt: skip


class Indexes:
    """The index-backed plans of `SqliteStore`."""

    path: Path
    _decode: Callable[[str, bytes, Any], RunRecord]

    def _listed(self, rows: list[Row]) -> Plan[RunList]:
        """The runs of `rows`; those that cannot be read are logged once and listed apart."""
        runs = RunList()
        for run_id, data, dead in rows:
            try:
                runs.append(self._decode(run_id, data, dead))
            except CorruptRun as exc:
                yield plans.Skipped(run_id, exc)
                runs.unreadable.append(exc)
        return runs

    def plan_page(
        self, state: str | None, limit: int, offset: int, oldest_first: bool = False
    ) -> Plan[RunList]:
        """Runs, most recently changed first (or last): one end of each state's index, merged."""
        check_page(state, limit, offset)
        queries = [(_BY_STATE, (each,)) for each in (STATES if state is None else (state,))]
        window = partial(_window, self.path, queries, limit, offset, oldest_first)
        return (yield from self._listed((yield Read(window, snapshot=True))))

    def plan_dead(self, limit: int, offset: int, oldest_first: bool = False) -> Plan[RunList]:
        """Dead-lettered runs (and runs set aside), most recently changed first (or last)."""
        check_page(None, limit, offset)
        window = partial(_window, self.path, [(_DEAD, ())], limit, offset, oldest_first)
        return (yield from self._listed((yield Read(window, snapshot=True))))

    def plan_claim(
        self, now: datetime | None, workflows: Collection[str] | None
    ) -> Plan[Lease | None]:
        """Take the lease of the longest-waiting runnable run of `workflows`, or None. The
        head of the ready index is tried first; runs held by others (being executed) are
        passed over, and more of the index is read only when all those read were held."""
        names = served(workflows)
        at = micros(now if now is not None else (yield NOW))
        tried: set[str] = set()
        count = _FIRST_CLAIMS
        while True:
            candidates = yield Read(partial(_ready, self.path, names, at, count), snapshot=True)
            for _, run_id in candidates:
                if run_id not in tried:
                    tried.add(run_id)
                    lease = yield Claim(run_id, at)
                    if lease is not None:
                        return lease  # type: ignore[no-any-return]
            if len(candidates) < count:
                return None
            count *= 4

    def plan_expire_due(self, now: datetime | None) -> Plan[list[str]]:
        """Apply every due timeout, found through the deadline index in batches: a batch of
        timeouts is written in one transaction (one sync to disk, however many fire); a run
        that changed meanwhile is tried again on its own."""
        at = now if now is not None else (yield NOW)
        fired: list[str] = []
        seen: set[str] = set()
        while True:
            due = yield Read(partial(_due, self.path, micros(at), _SWEEP_BATCH + len(seen)), True)
            batch = [row for row in due if row[0] not in seen]
            if not batch:
                return fired
            changes = []
            for run_id, data, dead in batch:
                seen.add(run_id)
                try:
                    run = self._decode(run_id, data, dead)
                except CorruptRun as exc:
                    yield plans.Skipped(run_id, exc)
                    continue
                new = expire(run, at)
                if new is not None:
                    changes.append((new, run.version))
            written = yield Commits(changes)
            for new, _ in changes:
                if new.run_id in written or (yield from plans.expire_one(new.run_id, at)):
                    fired.append(new.run_id)
