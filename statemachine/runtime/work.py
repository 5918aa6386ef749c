"""What a worker does with a run it claimed, once, for the threaded and the asyncio worker.

`unit` is a plan (as the store's: effects yielded, results or exceptions sent back) that
decides what becomes of a claimed run: executed for one unit, dead-lettered at once when it
can never be executed (not its user code's fault: a changed definition, a corrupt snapshot,
what it would store cannot be stored), or counted as a failed attempt when something
unexpected broke (so that it backs off, and ends dead-lettered, instead of being claimed
again and again). Each worker carries the effects out its own way.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import attrs

from statemachine.core.errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    DefinitionChanged,
    InvalidArgument,
    LeaseLost,
    RunNotFound,
    StoreError,
)
from statemachine.core.record import RunRecord, RunStatus
from statemachine.core.runs import fail
from statemachine.runtime.workflow import Workflow
from statemachine.store.logs import log_once
from statemachine.store.protocol import Store
from statemachine.store.telemetry import active
from statemachine.store.values import Lease, RetryPolicy, check_count, check_seconds

__all__ = ["Execute", "Fail", "Idle", "Letter", "Load", "Tally", "settings", "unit"]

log = logging.getLogger("statemachine.worker")


@attrs.frozen
class Load:
    """The claimed run, as stored (or as read by the claim, `Store.load_claimed`)."""

    lease: Lease


@attrs.frozen
class Execute:
    """One unit of the run's work by `workflow`, committed fenced by the lease, from the run
    as just loaded."""

    workflow: Workflow
    lease: Lease
    run: RunRecord


@attrs.frozen
class Letter:
    """Dead-letter the run: failed, no retry, with `reason`."""

    lease: Lease
    reason: str


@attrs.frozen
class Fail:
    """Count a failed attempt at the run, retried after the backoff, with `reason`."""

    lease: Lease
    reason: str


WorkEffect = Load | Execute | Letter | Fail

PURGED_PER_SWEEP = 100
"""Finished runs a sweep removes at most, with `keep_finished`: the rest wait for the next."""


class Tally:
    """What a worker did, counted, and said in the log (``statemachine.worker``): each unit,
    pause, failure (with its traceback), retry and dead letter, each sweep that fired
    something, and a one-line summary every `summary_seconds`. Records about a run carry
    ``run_id``, ``request_id``, ``step`` and ``attempt`` as `extra` fields.

    Attributes:
        counts: ``units``, ``failures``, ``fenced`` (commits refused because the lease was
            lost), ``conflicts``, ``timeouts``, ``reaped``, ``dead_lettered`` (runs never
            executable, failed at once), ``errors`` (unexpected: a bug).
    """

    def __init__(self, retry: RetryPolicy | None = None, summary_seconds: float = 60.0) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.retry = retry if retry is not None else RetryPolicy()
        self.summary_seconds = summary_seconds
        self._summarised = time.monotonic()
        self._said: Counter[str] = Counter()

    def summarise(self, force: bool = False) -> None:
        """Log the one-line summary of what was done since the last one, if it is time."""
        with self._lock:
            if not force and time.monotonic() - self._summarised < self.summary_seconds:
                return
            self._summarised = time.monotonic()
            since = self.counts - self._said
            self._said = Counter(self.counts)
        done = ", ".join(f"{what} {n}" for what, n in sorted(since.items())) or "nothing to do"
        log.info("worker: %s", done)

    def swept(self, what: str, run_ids: list[str]) -> None:
        """Count (and log) what a sweep did: fired timeouts, reaped leases."""
        self.count(what, len(run_ids))
        if run_ids:
            log.info("worker: sweep %s %d runs: %s", what, len(run_ids), " ".join(run_ids[:20]))

    def report(self, run: RunRecord) -> None:
        """Log what one unit of work left the run as."""
        gate = run.pending_gate
        request = None if gate is None else gate.request
        extra = {
            "run_id": run.run_id,
            "request_id": None if request is None else request.request_id,
            "step": gate.name if gate is not None else run.cursor,
            "attempt": run.attempts,
        }
        status = run.status
        if status is RunStatus.failed:
            attempts = f"attempt {run.attempts} of {self.retry.max_attempts}"
            metered = active()
            if metered is not None:
                (metered.dead_letters if run.retry_at is None else metered.retries).add(1)
            if run.retry_at is None:
                log.error("run %s failed, dead-lettered (%s): %s\n%s", run.run_id, attempts,
                          run.error, run.traceback or "", extra=extra)  # fmt: skip
            else:
                log.warning("run %s failed (%s), retried at %s: %s\n%s", run.run_id, attempts,
                            run.retry_at.isoformat(), run.error, run.traceback or "",
                            extra=extra)  # fmt: skip
        elif request is not None and status is RunStatus.paused:
            log.info("run %s paused at %s for %s (%s)", run.run_id, extra["step"],
                     request.kind.value, request.request_id, extra=extra)  # fmt: skip
        elif run.status.is_finished:
            log.info("run %s %s", run.run_id, status.value, extra=extra)
        else:  # handed over for the next unit: routine
            log.debug("run %s %s at %s", run.run_id, status.value, run.cursor, extra=extra)

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n
        metered = active()
        if metered is not None and what == "dead_lettered":  # never executable here
            metered.dead_letters.add(n)

    def once(self, key: str, message: str, *args: object, traceback: bool = False) -> None:
        log_once(log.name, f"{id(self)}:{key}", message, *args, traceback=traceback)


class Idle:
    """How long a worker that found nothing waits before looking again: `poll_seconds`
    after work, doubling with each empty look up to `idle_seconds` (jittered by +-50%), so
    that an idle worker costs little and a busy one answers at once."""

    def __init__(self, poll_seconds: float, idle_seconds: float) -> None:
        self.poll_seconds, self.idle_seconds = poll_seconds, max(poll_seconds, idle_seconds)
        self._next = poll_seconds

    def worked(self) -> None:
        self._next = self.poll_seconds

    def wait(self) -> float:
        """The wait after an empty look (and the next one doubles)."""
        wait = self._next * random.uniform(0.5, 1.5)
        self._next = min(self.idle_seconds, self._next * 2)
        return wait


def settings(
    workflows: Sequence[Workflow] | Workflow, store: Store | None, concurrency: int, high: int,
    retry: RetryPolicy | None, poll_seconds: float, sweep_seconds: float,
) -> tuple[Store, dict[str, Workflow], int, RetryPolicy, float, float]:  # fmt: skip
    """A worker's settings, checked: its store, its workflows bound to it by name, and the rest.

    Raises:
        InvalidArgument: no workflows, two with one name, or a setting out of range.
    """
    listed = [workflows] if isinstance(workflows, Workflow) else list(workflows)
    if not listed or not all(isinstance(each, Workflow) for each in listed):
        raise InvalidArgument("a Worker needs at least one workflow, and only Workflows")
    if len({each.name for each in listed}) != len(listed):
        raise InvalidArgument("a Worker's workflows need distinct names")
    chosen = store if store is not None else listed[0].store
    if not isinstance(chosen, Store):
        raise InvalidArgument(f"store must be a Store, not {type(chosen).__name__}")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise InvalidArgument(f"retry must be a RetryPolicy, not {type(retry).__name__}")
    return (
        chosen,
        {each.name: each.bind(chosen) for each in listed},
        check_count("concurrency", concurrency, 1, high),
        retry if retry is not None else RetryPolicy(),
        check_seconds("poll_seconds", poll_seconds, 0, 3600),
        check_seconds("sweep_seconds", sweep_seconds, 0, 3600),
    )


def unit(
    lease: Lease, workflows: Mapping[str, Workflow], tally: Tally
) -> Generator[WorkEffect, Any, None]:
    """The plan for one claimed run (see the module docstring)."""
    try:
        run: RunRecord = yield Load(lease)
    except RunNotFound:
        return
    except CorruptRun as exc:
        yield from _letter(lease, f"its snapshot cannot be read: {exc}", tally)
        return
    claimed = {"run_id": run.run_id, "step": run.cursor, "attempt": run.attempts}
    log.debug("run %s claimed at %s (attempt %d)", run.run_id, run.cursor, run.attempts + 1,
              extra=claimed)  # fmt: skip
    workflow = workflows.get(run.workflow)
    if workflow is None:  # the claim filters by workflow: only a store ignoring it gets here
        tally.once(f"unserved:{run.workflow}", "worker: no workflow %r (run %s)", run.workflow,
                   run.run_id)  # fmt: skip
        return
    try:
        after: RunRecord = yield Execute(workflow, lease, run)
    except LeaseLost:
        tally.count("fenced")  # it stalled past its lease: another worker has it
        return
    except ConflictError:
        tally.count("conflicts")  # a decision or cancellation came first
        return
    except (DefinitionChanged, CodecError, InvalidArgument, CorruptRun) as exc:
        yield from _letter(lease, f"{type(exc).__name__}: {exc}", tally)
        return
    except StoreError:
        raise  # the store is away: the worker waits and tries again
    except Exception as exc:  # a bug: count an attempt, so that it backs off and ends
        tally.once(f"error:{lease.run_id}", "worker: run %s: unexpected error", lease.run_id,
                   traceback=True)  # fmt: skip
        tally.count("errors")
        with contextlib.suppress(ConflictError, RunNotFound, CorruptRun):
            yield Fail(lease, f"unexpected error: {type(exc).__name__}: {exc}"[:2000])
        return
    tally.count("failures" if after.status is RunStatus.failed else "units")
    tally.report(after)


def _letter(lease: Lease, reason: str, tally: Tally) -> Generator[WorkEffect, Any, None]:
    """Fail the run for good: it is not its code that failed, and no retry would go otherwise."""
    tally.once(f"dead:{lease.run_id}", "worker: run %s dead-lettered: %s", lease.run_id, reason)
    try:
        yield Letter(lease, reason)
    except (ConflictError, RunNotFound):
        return  # it moved on meanwhile (a decision, a cancellation): nothing to set aside
    tally.count("dead_lettered")


def failed(run: RunRecord, reason: str, retry: RetryPolicy, now: Any) -> RunRecord:
    """The run with a failed attempt counted, retried after the backoff."""
    retry_at = retry.next_attempt(run.attempts + 1, now)
    return fail(run, run.cursor or "", reason, now, retry_at=retry_at)
