"""The store's operations, written once as plans over its primitives, for the synchronous
and the asyncio API alike.

Theory of operation. A plan is a generator that does no I/O: it yields an *effect* naming a
primitive (`Load`, `Commit`, `Now`, `Ids`, `Acquire`, `Scan`, `Forget`, `SetAside`), is sent
the primitive's result, or has its exception thrown in where it yielded. `Store` carries
plans out with its synchronous primitives, and with its asynchronous ones under asyncio, so
the rules below (retries on conflict, the clock read at each attempt, what a decision does
at its deadline, which junk a listing skips) exist in one place for both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeAlias, TypeVar

from statemachine.core.decisions import DecisionResult, Verdict
from statemachine.core.decisions import decide as decide_run
from statemachine.core.errors import (
    ConflictError,
    CorruptRun,
    InvalidArgument,
    InvalidRunId,
    LeaseLost,
    RunBusy,
    RunNotFound,
    shorten,
)
from statemachine.core.events import JSON
from statemachine.core.record import RunRecord
from statemachine.core.refusals import DeadlinePassed
from statemachine.core.runs import can_expire, cancel_run, expire, fail
from statemachine.core.runs import requeue as requeue_run
from statemachine.store import telemetry
from statemachine.store.values import (
    Lease,
    RunList,
    check_page,
    ready_delay,
    run_state,
    served,
)

__all__ = [
    "Acquire",
    "Commit",
    "Effect",
    "Forget",
    "Ids",
    "Load",
    "Now",
    "Plan",
    "Scan",
    "SetAside",
    "Skipped",
]

T = TypeVar("T")


class Load(NamedTuple):
    """The stored run (`RunNotFound`, `CorruptRun`)."""

    run_id: str


class Commit(NamedTuple):
    """Compare-and-set the run over `expected` (`ConflictError`; `LeaseLost` when fenced);
    `last`: the holder's last write, which may give `lease` back (`Store.commit_last`)."""

    run: RunRecord
    expected: int
    lease: Lease | None = None
    last: bool = False


class Now(NamedTuple):
    """The store's clock."""


class Ids(NamedTuple):
    """The ids of the stored runs."""


class Acquire(NamedTuple):
    """The run's execution lease (`RunBusy`, `RunNotFound`)."""

    run_id: str


class Scan(NamedTuple):
    """Every readable run, with the store's time of its last write."""


class Delete(NamedTuple):
    """Remove the run, stored at `expected`, leaving a tombstone (`Store.delete`)."""

    run_id: str
    expected: int


class Forget(NamedTuple):
    """A run listed by an index is gone: remove its entries."""

    run_id: str


class Skipped(NamedTuple):
    """A run could not be read, or its timeout applied: say so (once)."""

    run_id: str
    reason: Exception


class SetAside(NamedTuple):
    """A run that cannot be read: keep claims from returning it."""

    run_id: str
    reason: str


Effect: TypeAlias = Load | Commit | Now | Ids | Acquire | Scan | Forget | Skipped | SetAside
Plan: TypeAlias = Generator[Any, Any, T]
"""A plan answers with a T; it may also yield the effects of a store of its own kind."""

NOW = Now()
IDS = Ids()
_ATTEMPTS = 100

Change: TypeAlias = Callable[[RunRecord, datetime], RunRecord | None]


def update(
    run_id: str,
    change: Change,
    *,
    now: datetime | None = None,
    seen: RunRecord | None = None,
    lease: Lease | None = None,
    timed: bool = True,
    last: bool = False,
) -> Plan[RunRecord]:
    """Apply `change(run, time)` to the latest run and commit it, retrying when another writer
    won; the time is `now`, or the store's clock read again at each attempt (not read at all
    when the change is not `timed`).

    `change` returns the new run, or None to leave it alone; it must be pure, since it may
    run several times. `seen` is the run as the caller last read it: the first attempt starts
    from it without a read, and compare-and-set catches it if it is stale. With `last`, the
    commit is the lease's last write (`Store.commit_last`).
    """
    if seen is not None and (not isinstance(seen, RunRecord) or seen.run_id != run_id):
        # Another run's record would have the change written to that run.
        raise InvalidArgument(f"seen must be run {shorten(run_id)} as read, not {shorten(seen)}")
    for attempt in range(_ATTEMPTS):
        trusting = attempt == 0 and seen is not None
        run = seen if trusting and seen is not None else (yield Load(run_id))
        at = now if now is not None or not timed else (yield NOW)
        new = change(run, at)  # type: ignore[arg-type]
        if new is None or new is run:
            if trusting:
                continue  # nothing to write: answer from the stored run, not the caller's
            return run
        try:
            yield Commit(new, run.version, lease, last)
        except (LeaseLost, RunBusy):
            raise  # retrying cannot help
        except ConflictError:
            continue
        return new
    raise ConflictError(
        run_id, f"run {run_id!r} kept changing: {_ATTEMPTS} writes in a row lost the race"
    )


def get(run_id: str, now: datetime | None) -> Plan[RunRecord]:
    """The run, with its overdue timeout applied (and stored) before it is returned."""
    run: RunRecord = yield Load(run_id)
    if not can_expire(run):  # nothing can be overdue: no clock to read
        return run
    if expire(run, now if now is not None else (yield NOW)) is None:
        return run
    return (yield from update(run_id, lambda run, at: expire(run, at), now=now))


def cancel(run_id: str, now: datetime | None) -> Plan[RunRecord]:
    """Cancel the run; a process executing it stops at its next commit."""
    return update(run_id, lambda run, at: cancel_run(run, at), now=now)


def requeue(run_id: str, now: datetime | None) -> Plan[RunRecord]:
    """Make a failed (or dead-lettered) run runnable again, its attempts forgotten."""
    return update(run_id, lambda run, at: requeue_run(run, at), now=now)


def decide(
    run_id: str,
    request_id: str | None,
    verdict: Verdict,
    feedback: str | None,
    decision_id: str,
    decided_at: datetime | None,
    now: datetime | None,
    seen: RunRecord | None,
    value: JSON = None,
    by: str | None = None,
    groups: Collection[str] = (),
    via: str | None = None,
) -> Plan[DecisionResult]:
    """Record a decision (see `Store.decide`): each attempt records at its own time, and a
    decision recorded after the deadline stores the timeout instead, then raises."""
    result: DecisionResult | None = None
    late: DeadlinePassed | None = None
    asked_at: datetime | None = None
    decided: datetime | None = None

    def change(run: RunRecord, at: datetime) -> RunRecord | None:
        nonlocal result, late, asked_at, decided
        result, late, decided = None, None, at
        pending = run.pending_gate
        asked_at = (
            None if pending is None or pending.request is None else pending.request.created_at
        )
        try:
            result = decide_run(
                run, request_id, verdict, feedback=feedback, value=value, by=by, groups=groups,
                via=via, decision_id=decision_id, decided_at=decided_at, now=at,
            )  # fmt: skip
        except DeadlinePassed as exc:
            late = exc
            return expire(run, at)  # None when the timeout was applied already
        return result.run

    yield from update(run_id, change, now=now, seen=seen)
    if late is not None:
        raise late
    assert result is not None
    metered = telemetry.active()
    if metered is not None and decided is not None:
        metered.decided(verdict.value, result.outcome.value, asked_at, decided)
    return result


def readable(run_id: str, unreadable: list[CorruptRun] | None = None) -> Plan[RunRecord | None]:
    """The run, or None when it is gone (its index entries are dropped) or cannot be read
    (logged once, and added to `unreadable`)."""
    try:
        return (yield Load(run_id))  # type: ignore[no-any-return]
    except RunNotFound:
        yield Forget(run_id)
        return None
    except CorruptRun as exc:
        yield Skipped(run_id, exc)
        if unreadable is not None:
            unreadable.append(exc)
        return None


def list_runs(workflow: str | None) -> Plan[RunList]:
    """Every run (of `workflow`), oldest first, as stored: a listing writes nothing."""
    unreadable: list[CorruptRun] = []
    runs = []
    for run_id in (yield IDS):
        run = yield from readable(run_id, unreadable)
        if run is not None and (workflow is None or run.workflow == workflow):
            runs.append(run)
    runs.sort(key=lambda run: (run.created_at, run.run_id))
    return RunList(runs, unreadable)


def page(state: str | None, limit: int, offset: int, oldest_first: bool = False) -> Plan[RunList]:
    """Runs, most recently changed first (or last), optionally only those in `state`: by
    reading every run (stores with indexes answer from them instead)."""
    check_page(state, limit, offset)
    unreadable: list[CorruptRun] = []
    runs = []
    for run_id in (yield IDS):
        run = yield from readable(run_id, unreadable)
        if run is not None and (state is None or run_state(run) == state):
            runs.append(run)
    runs.sort(key=lambda run: (run.updated_at, run.run_id), reverse=not oldest_first)
    return RunList(runs[offset : offset + limit], unreadable)


def dead(failed: RunList, limit: int, offset: int) -> RunList:
    """The dead letters among failed runs: those no worker will retry."""
    check_page(None, limit, offset)
    letters = [run for run in failed if run.retry_at is None][offset : offset + limit]
    return RunList(letters, failed.unreadable)


def expire_one(run_id: str, at: datetime) -> Plan[bool]:
    """Apply the run's timeout if it is due at `at`; whether this applied it. A run that
    cannot be read is logged (once) and skipped: one bad run must not stop a sweep."""
    fired = False

    def change(run: RunRecord, now: datetime) -> RunRecord | None:
        nonlocal fired
        new = expire(run, now)
        fired = new is not None
        return new

    try:
        yield from update(run_id, change, now=at)
    except RunNotFound:
        yield Forget(run_id)
        return False
    except (CorruptRun, InvalidRunId) as exc:
        yield Skipped(run_id, exc)
        return False
    return fired


def expire_due(now: datetime | None) -> Plan[list[str]]:
    """Apply every timeout that is due, by reading every run (stores with a deadline index
    answer from it); the ids of the runs whose timeout this applied."""
    at = now if now is not None else (yield NOW)
    fired = []
    for run_id in (yield IDS):
        if (yield from expire_one(run_id, at)):
            fired.append(run_id)
    return fired


def claim(now: datetime | None, workflows: Collection[str] | None) -> Plan[Lease | None]:
    """Take the lease of the longest-waiting runnable run (of `workflows`), by reading every
    run (stores with a ready index answer from it). A run made runnable at once is runnable
    whatever the time; a failed run waits for its backoff, from its write by the store's
    clock."""
    at = now if now is not None else (yield NOW)
    names = served(workflows)
    waiting = []
    for run, written in (yield Scan()):
        if names is not None and run.workflow not in names:
            continue
        delay = ready_delay(run)
        if delay is None:
            continue
        due = written + timedelta(seconds=delay)
        if delay == 0 or due <= at:
            waiting.append((due, run.run_id))
    for _, run_id in sorted(waiting):
        try:
            return (yield Acquire(run_id))  # type: ignore[no-any-return]
        except (RunBusy, RunNotFound):
            continue
    return None


def dead_letter(lease: Lease, reason: str, now: datetime | None) -> Plan[None]:
    """Fail the held run with no retry, for a reason that is not its user code; an
    unreadable run is set aside instead."""
    try:
        yield from update(
            lease.run_id,
            lambda run, at: fail(run, run.cursor or "", reason, at),
            now=now,
            lease=lease,
        )
    except CorruptRun:
        yield SetAside(lease.run_id, reason)


def carry_out(plan: Plan[T], effect: Callable[[Any], Any]) -> T:
    """Run `plan`, answering each effect with `effect(it)` (its exception thrown back in)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = effect(step)
        except Exception as exc:
            error = exc


async def acarry_out(plan: Plan[T], effect: Callable[[Any], Any]) -> T:
    """`carry_out` with each effect awaited."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = await effect(step)
        except Exception as exc:
            error = exc
