"""The operations every store offers on top of its primitives, synchronous and awaited: reads
that apply overdue timeouts, decisions, cancellation, listings, and the work of workers
(claims, sweeps, reaping, dead letters). Each runs a plan (`plans`) once written; a store
with indexes swaps in plans of its own through the `plan_*` methods."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from statemachine.core.decisions import DecisionResult, check_decision
from statemachine.core.events import JSON
from statemachine.core.record import RunRecord
from statemachine.store import plans, telemetry
from statemachine.store.plans import Plan, acarry_out, carry_out
from statemachine.store.retention import FINISHED, PAGE, plan_purge
from statemachine.store.values import (
    Lease,
    RetryPolicy,
    RunList,
    aware,
    check_count,
    check_flag,
    check_run_id,
    new_id,
)

__all__ = ["Operations"]

T = TypeVar("T")


def _time(now: datetime | None, name: str = "now") -> datetime | None:
    return None if now is None else aware(now, name)


def _oldest(oldest_first: object) -> bool:
    return check_flag("oldest_first", oldest_first)


class Operations(ABC):
    """Run and worker operations, built on a store's primitives (see `Store`)."""

    @abstractmethod
    def _effect(self, effect: Any) -> Any:
        """Carry out one effect of a plan with the synchronous primitives."""

    @abstractmethod
    async def _aeffect(self, effect: Any) -> Any:
        """Carry out one effect of a plan with the asynchronous primitives."""

    def _run(self, plan: Plan[T]) -> T:
        metered = telemetry.active()
        if metered is None:
            return carry_out(plan, self._effect)
        return carry_out(plan, metered.counting(self, self._effect, plans.Commit))

    async def _arun(self, plan: Plan[T]) -> T:
        metered = telemetry.active()
        if metered is None:
            return await acarry_out(plan, self._aeffect)
        return await acarry_out(plan, metered.acounting(self, self._aeffect, plans.Commit))

    # Plans a store with indexes replaces with its own.

    def plan_page(
        self, state: str | None, limit: int, offset: int, oldest_first: bool = False
    ) -> Plan[RunList]:
        """How this store lists a page of runs."""
        return plans.page(state, limit, offset, oldest_first)

    def plan_dead(self, limit: int, offset: int, oldest_first: bool = False) -> Plan[RunList]:
        """How this store lists its dead letters."""
        failed = yield from self.plan_page("failed", 1000, 0, oldest_first)
        return plans.dead(failed, limit, offset)

    def plan_claim(
        self, now: datetime | None, workflows: Collection[str] | None
    ) -> Plan[Lease | None]:
        """How this store finds a runnable run and takes its lease."""
        return plans.claim(now, workflows)

    def plan_expire_due(self, now: datetime | None) -> Plan[list[str]]:
        """How this store finds the timeouts that are due."""
        return plans.expire_due(now)

    def plan_reap(self, policy: RetryPolicy, now: datetime | None) -> Plan[list[str]]:
        """How this store reaps expired leases: stores whose holds end with their process
        (memory, file) have nothing to reap, a run whose worker died there is runnable again."""
        return []
        yield  # a plan: a generator that answers at once

    # Reading and changing one run

    def update(
        self,
        run_id: str,
        change: Callable[[RunRecord], RunRecord | None],
        *,
        seen: RunRecord | None = None,
        lease: Lease | None = None,
    ) -> RunRecord:
        """Apply `change` to the latest run and commit it, retrying when another writer won.

        `change` gets the stored run and returns the new one, or None to leave it alone; it
        must be pure, since it may run several times.

        Args:
            seen: the run as the caller last read it. The first attempt starts from it
                without reading the store; compare-and-set catches it if it is stale.
            lease: commit fenced by this lease.

        Returns:
            The run as it now stands.
        """
        plan = plans.update(
            check_run_id(run_id), lambda run, _: change(run), seen=seen, lease=lease, timed=False
        )
        return self._run(plan)

    async def aupdate(
        self,
        run_id: str,
        change: Callable[[RunRecord], RunRecord | None],
        *,
        seen: RunRecord | None = None,
        lease: Lease | None = None,
    ) -> RunRecord:
        """`update`, awaited."""
        plan = plans.update(
            check_run_id(run_id), lambda run, _: change(run), seen=seen, lease=lease, timed=False
        )
        return await self._arun(plan)

    def get(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """The run, with its overdue timeout applied (and stored) before it is returned."""
        return self._run(plans.get(check_run_id(run_id), _time(now)))

    async def aget(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """`get`, awaited."""
        return await self._arun(plans.get(check_run_id(run_id), _time(now)))

    def cancel(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """Cancel the run from any process; a run being executed stops at its next commit."""
        return self._run(plans.cancel(check_run_id(run_id), _time(now)))

    async def acancel(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """`cancel`, awaited."""
        return await self._arun(plans.cancel(check_run_id(run_id), _time(now)))

    def requeue(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """Make a failed (or dead-lettered) run runnable again, its attempts forgotten."""
        return self._run(plans.requeue(check_run_id(run_id), _time(now)))

    async def arequeue(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """`requeue`, awaited."""
        return await self._arun(plans.requeue(check_run_id(run_id), _time(now)))

    def _decision(
        self,
        run_id: str,
        request_id: str | None,
        decision: object,
        feedback: str | None,
        decision_id: str | None,
        decided_at: datetime | None,
        now: datetime | None,
        seen: RunRecord | None,
        value: JSON,
        by: str | None,
        groups: Collection[str],
        via: str | None,
    ) -> Plan[DecisionResult]:
        verdict = check_decision(
            request_id, decision, feedback, decision_id, value, by, groups, via
        )
        return plans.decide(
            check_run_id(run_id), request_id, verdict, feedback, decision_id or new_id(),
            _time(decided_at, "decided_at"), _time(now), seen, value, by, tuple(groups), via,
        )  # fmt: skip

    def decide(
        self,
        run_id: str,
        request_id: str | None,
        decision: object,
        feedback: str | None = None,
        *,
        decision_id: str | None = None,
        decided_at: datetime | None = None,
        now: datetime | None = None,
        seen: RunRecord | None = None,
        value: JSON = None,
        by: str | None = None,
        groups: Collection[str] = (),
        via: str | None = None,
    ) -> DecisionResult:
        """Record a human decision on the pending request `request_id`, from any process.

        Args:
            request_id: the request decided; None for whichever is pending (a retry with the
                same decision id then still answers `duplicate` after the run moved on).
            decision: a `Verdict` or its value: ``"confirm"``, ``"reject"``, ``"provide"``
                (values for an input request), ``"select"`` (routes), ``"edit"`` (an edited
                output, accepted), ``"retry"`` or ``"skip"`` (a failed step).
            feedback: for a rejection, passed to the next iteration.
            decision_id: makes the call idempotent: the same decision sent again with this id
                answers `duplicate` and changes nothing, for the life of the run. A fresh one is
                made when omitted.
            decided_at: when the human decided, for the history (default: when it is
                recorded). It does not decide whether the decision is in time: the store's
                clock when the decision is recorded does.
            now: the time of recording (default: the store's clock, read on each attempt).
            seen: the run as the caller last read it, to save a read while it is current.
            value: what a ``provide``, ``select`` or ``edit`` decision carries.
            by: who decided, kept with the decision in the run's answers, and checked against
                the request's `assignees`, `candidate_groups` and `forbid_self_approval`.
            groups: the groups `by` is in (as the caller's authentication says).
            via: how the decision came (``web``, ``api``, ``link``, ``cli``...), kept with it.

        Returns:
            `applied` or `duplicate`, with the run as it now stands.

        Raises:
            DeadlinePassed: recorded after the request's deadline: the timeout's action is
                applied and stored instead.
            StaleRequest: the request is not pending (decided, cancelled, unknown), or nothing is.
            DecisionConflict: the decision id was recorded for another decision.
            RunNotFound: no such run.
            WrongDecision, InvalidInput, InvalidSelection: the decision does not fit the
                request (a route for a confirmation, values the schema refuses, an unknown
                route); nothing was written.
            ActorRefused: `by` may not decide this request; nothing was written.
            InvalidArgument: an argument of the wrong type or shape; nothing was read or written.
        """
        arguments = (run_id, request_id, decision, feedback, decision_id, decided_at, now, seen)
        traced = telemetry.active()
        if traced is None:
            return self._run(self._decision(*arguments, value, by, groups, via))
        with traced.span("statemachine.decide", run_id, **{"statemachine.decision": str(decision)}):
            return self._run(self._decision(*arguments, value, by, groups, via))

    async def adecide(
        self,
        run_id: str,
        request_id: str | None,
        decision: object,
        feedback: str | None = None,
        *,
        decision_id: str | None = None,
        decided_at: datetime | None = None,
        now: datetime | None = None,
        seen: RunRecord | None = None,
        value: JSON = None,
        by: str | None = None,
        groups: Collection[str] = (),
        via: str | None = None,
    ) -> DecisionResult:
        """`decide`, awaited."""
        arguments = (run_id, request_id, decision, feedback, decision_id, decided_at, now, seen)
        traced = telemetry.active()
        if traced is None:
            return await self._arun(self._decision(*arguments, value, by, groups, via))
        with traced.span("statemachine.decide", run_id, **{"statemachine.decision": str(decision)}):
            return await self._arun(self._decision(*arguments, value, by, groups, via))

    # Listings

    def list_runs(self, workflow: str | None = None) -> RunList:
        """Every run (of `workflow`, if given), oldest first, as stored (a listing writes
        nothing). Runs that cannot be read are left out, and listed in `unreadable`."""
        return self._run(plans.list_runs(workflow))

    async def alist_runs(self, workflow: str | None = None) -> RunList:
        """`list_runs`, awaited."""
        return await self._arun(plans.list_runs(workflow))

    def page(
        self, state: str | None = None, *, limit: int = 50, offset: int = 0,
        oldest_first: bool = False,
    ) -> RunList:  # fmt: skip
        """Runs, most recently changed first (with `oldest_first`, least recently changed
        first), optionally only those in `state` (see `STATES`). Stores with indexes answer
        in time proportional to the page, from either end. Overdue timeouts are not applied:
        this is a listing, not a read of one run. Runs that cannot be read are left out, and
        listed in the answer's `unreadable`."""
        return self._run(self.plan_page(state, limit, offset, _oldest(oldest_first)))

    async def apage(
        self, state: str | None = None, *, limit: int = 50, offset: int = 0,
        oldest_first: bool = False,
    ) -> RunList:  # fmt: skip
        """`page`, awaited."""
        return await self._arun(self.plan_page(state, limit, offset, _oldest(oldest_first)))

    def dead(self, *, limit: int = 50, offset: int = 0, oldest_first: bool = False) -> RunList:
        """Failed runs that no worker will retry, most recently changed first (or last)."""
        return self._run(self.plan_dead(limit, offset, _oldest(oldest_first)))

    async def adead(
        self, *, limit: int = 50, offset: int = 0, oldest_first: bool = False
    ) -> RunList:
        """`dead`, awaited."""
        return await self._arun(self.plan_dead(limit, offset, _oldest(oldest_first)))

    # Work for workers

    def claim(
        self, now: datetime | None = None, *, workflows: Collection[str] | None = None
    ) -> Lease | None:
        """Take the lease of one run that is runnable now (the longest waiting first), or None.

        Args:
            now: the time (default: the store's clock). A run made runnable at once (a
                decision, a new run, the next unit) is runnable whatever the time; a failed
                run waits for its backoff, counted from its write by the store's clock.
            workflows: only runs of these workflows (a worker claims what it can execute).
        """
        return self._run(self.plan_claim(_time(now), workflows))

    async def aclaim(
        self, now: datetime | None = None, *, workflows: Collection[str] | None = None
    ) -> Lease | None:
        """`claim`, awaited."""
        return await self._arun(self.plan_claim(_time(now), workflows))

    def expire_due(self, now: datetime | None = None) -> list[str]:
        """Apply every timeout that is due, with nobody calling `continue_run`; the ids of the
        runs whose timeout this call applied. A run that cannot be read is logged, once, and
        skipped: one bad run never stops a sweep."""
        return telemetry.fired(self._run(self.plan_expire_due(_time(now))))

    async def aexpire_due(self, now: datetime | None = None) -> list[str]:
        """`expire_due`, awaited."""
        return telemetry.fired(await self._arun(self.plan_expire_due(_time(now))))

    def reap(self, policy: RetryPolicy, now: datetime | None = None) -> list[str]:
        """Count an attempt for every run whose executor lost its lease, and make it runnable
        again (or dead-letter it). Returns the runs reaped."""
        return telemetry.reaped(self._run(self.plan_reap(policy, _time(now))))

    async def areap(self, policy: RetryPolicy, now: datetime | None = None) -> list[str]:
        """`reap`, awaited."""
        return telemetry.reaped(await self._arun(self.plan_reap(policy, _time(now))))

    # Retention

    def purge(
        self,
        finished_before: datetime,
        *,
        workflow: str | None = None,
        dry_run: bool = False,
        limit: int = 10_000,
    ) -> list[str]:
        """Remove for good up to `limit` runs that ended (completed, cancelled, or failed with
        no retry to come) before `finished_before`, of `workflow` if given, oldest first; each
        leaves a tombstone, so no late write brings it back. Nothing paused, running, pending
        or to be retried is touched. Returns the ids removed (with `dry_run`, those that would
        be, and nothing is removed).

        Raises:
            InvalidArgument: a naive time, a bad limit, or a store that cannot remove runs.
        """
        return self._run(self._plan_purge(finished_before, workflow, dry_run, limit))

    async def apurge(
        self,
        finished_before: datetime,
        *,
        workflow: str | None = None,
        dry_run: bool = False,
        limit: int = 10_000,
    ) -> list[str]:
        """`purge`, awaited."""
        return await self._arun(self._plan_purge(finished_before, workflow, dry_run, limit))

    def _plan_purge(
        self, before: datetime, workflow: str | None, dry_run: bool, limit: int
    ) -> Plan[list[str]]:
        before = aware(before, "finished_before")
        check_count("limit", limit, 1, 1_000_000)
        listings = [
            *(partial(self.plan_page, state, PAGE, oldest_first=True) for state in FINISHED),
            partial(self.plan_dead, PAGE, oldest_first=True),
        ]
        return plan_purge(listings, before, workflow, dry_run, limit)

    def dead_letter(self, lease: Lease, reason: str, *, now: datetime | None = None) -> None:
        """Fail the held run with no retry, for a reason that is not its user code (it cannot
        be executed by this definition, or stored): a worker moves on at once instead of
        claiming it again and again. An unreadable run is set aside (`quarantine`)."""
        self._run(plans.dead_letter(lease, reason, _time(now)))

    async def adead_letter(self, lease: Lease, reason: str, *, now: datetime | None = None) -> None:
        """`dead_letter`, awaited."""
        await self._arun(plans.dead_letter(lease, reason, _time(now)))
