"""Pure changes to a run record: apply a gate event, decide, time out, cancel, fail, finish a step.

Like `step`, nothing here does I/O or reads a clock. Every change appends its transitions to the
history and raises the version by their number, so a run's version counts its transitions.
Stores and the workflow runtime build on these; they only add loading and compare-and-set.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from .actions import Action
from .errors import DeadlinePassed, InvalidArgument
from .events import JSON, Cancel, Confirm, Event, IterationCompleted, Reject, Start, Timeout
from .machine import step
from .record import MAX_HISTORY, Gate, RunRecord, RunStatus, StepResult, Transition
from .states import State

__all__ = [
    "DecisionResult",
    "Outcome",
    "Verdict",
    "abandoned",
    "apply_event",
    "cancel_run",
    "decide",
    "expire",
    "fail",
    "finish_step",
    "requeue",
]

_EVENT_NAMES: dict[type, str] = {
    Start: "start",
    Confirm: "confirm",
    Reject: "reject",
    Timeout: "timeout",
    Cancel: "cancel",
    IterationCompleted: "iteration_completed",
}


class Verdict(enum.Enum):
    """A human's decision on a pending request."""

    confirm = "confirm"
    reject = "reject"


class Outcome(enum.Enum):
    """What recording a decision did."""

    applied = "applied"
    """The decision was recorded and the gate moved on."""
    duplicate = "duplicate"
    """This decision (by its id) was recorded before; nothing changed."""
    stale = "stale"
    """The request is not pending any more (decided, timed out, cancelled, or unknown)."""


@attrs.frozen
class DecisionResult:
    """The answer to `decide`: the outcome and the run as it now stands.

    `deadline_passed` is true when the decision came after the deadline: the outcome is then
    `stale`, and the run shows the timeout's action applied instead.
    """

    outcome: Outcome
    run: RunRecord
    deadline_passed: bool = False


def _record(run: RunRecord, entries: list[Transition], now: datetime, **changes: Any) -> RunRecord:
    history = run.history + tuple(entries)
    if len(history) > MAX_HISTORY:
        history = history[-MAX_HISTORY:]
    return attrs.evolve(
        run, history=history, version=run.version + len(entries), updated_at=now, **changes
    )


def apply_event(
    run: RunRecord,
    gate: Gate,
    event: Event,
    now: datetime,
    *,
    live: RunStatus = RunStatus.pending,
    decision_id: str | None = None,
) -> tuple[RunRecord, Action]:
    """Apply `event` to `gate` (the run's record of it, or a new pending one) within `run`.

    The run's status follows the gate: paused while it waits for a human, cancelled when it is
    cancelled, and `live` otherwise (`running` for whoever executes the run, `pending` for a
    decision or a timeout recorded from outside).

    Raises:
        Whatever `step` raises; the run is then unchanged.
    """
    new_gate, action = step(gate, event, now)
    decided_at = getattr(event, "decided_at", None) or now
    entry = Transition(
        run.version + 1,
        decided_at,
        gate.name,
        _EVENT_NAMES[type(event)],
        new_gate.state.value,
        decision_id,
    )
    gates = tuple(new_gate if g.name == gate.name else g for g in run.gates)
    if run.gate(gate.name) is None:
        gates += (new_gate,)
    if new_gate.state.is_paused:
        status = RunStatus.paused
    elif new_gate.state is State.cancelled:
        status = RunStatus.cancelled
    else:
        status = live
    return _record(run, [entry], now, gates=gates, status=status, error=None), action


def expire(run: RunRecord, now: datetime) -> RunRecord | None:
    """The run with its overdue timeout applied, or None when nothing is due."""
    gate = run.pending_gate
    if gate is None or gate.deadline is None or now <= gate.deadline or run.status.is_finished:
        return None
    return apply_event(run, gate, Timeout(), now)[0]


def decide(
    run: RunRecord,
    request_id: str,
    verdict: Verdict,
    *,
    feedback: str | None = None,
    decision_id: str,
    decided_at: datetime,
    now: datetime,
) -> DecisionResult:
    """Record a human decision on the request `request_id`.

    A decision made after the deadline is not applied: the timeout is, and the result says so.
    """
    if any(entry.decision_id == decision_id for entry in run.history):
        return DecisionResult(Outcome.duplicate, run)
    gate = run.pending_gate
    if gate is None or gate.request is None or gate.request.request_id != request_id:
        return DecisionResult(Outcome.stale, run)
    event: Event
    if verdict is Verdict.confirm:
        event = Confirm(request_id=request_id, decided_at=decided_at)
    else:
        event = Reject(feedback, request_id=request_id, decided_at=decided_at)
    try:
        new, _ = apply_event(run, gate, event, now, decision_id=decision_id)
    except DeadlinePassed:
        timed_out = expire(run, max(now, decided_at))
        return DecisionResult(Outcome.stale, timed_out or run, deadline_passed=True)
    return DecisionResult(Outcome.applied, new)


def cancel_run(run: RunRecord, now: datetime) -> RunRecord:
    """The run cancelled: its live gate gets `Cancel`, or the run itself is marked cancelled.

    Raises:
        InvalidArgument: the run has completed (a cancelled run is returned unchanged).
    """
    if run.status is RunStatus.cancelled:
        return run
    if run.status is RunStatus.completed:
        raise InvalidArgument(f"run {run.run_id!r} has completed and cannot be cancelled")
    live = run.gate(run.cursor) if run.cursor is not None else None
    if live is not None and not live.is_terminal:
        return apply_event(run, live, Cancel(), now)[0]
    entry = Transition(run.version + 1, now, "", "cancel", RunStatus.cancelled.value)
    return _record(run, [entry], now, status=RunStatus.cancelled)


def fail(
    run: RunRecord, name: str, error: str, now: datetime, *, retry_at: datetime | None = None
) -> RunRecord:
    """The run failed in step or gate `name`; what was committed stays, and may be retried.

    Args:
        retry_at: when a worker may try again; None leaves the retry to a person (a run that
            failed under a worker with its attempts used up is dead-lettered this way).
    """
    entry = Transition(run.version + 1, now, name, "failed", RunStatus.failed.value)
    return _record(
        run, [entry], now, status=RunStatus.failed, error=error,
        attempts=run.attempts + 1, retry_at=retry_at,
    )  # fmt: skip


def abandoned(run: RunRecord, now: datetime, *, retry_at: datetime | None) -> RunRecord:
    """The run's executor lost its lease mid-work (it died, or stalled): count the attempt.

    The run becomes runnable again at `retry_at`, or, when None (attempts used up), it is
    failed and dead-lettered. A run that is not pending or running was left by an executor
    that had committed its work (it paused, ended, or failed): it is returned unchanged.
    """
    if run.status is not RunStatus.pending and run.status is not RunStatus.running:
        return run
    attempts = run.attempts + 1
    if retry_at is None:
        error = f"abandoned by {attempts} executors in a row (each lost its lease)"
        return fail(run, "", error, now)
    entry = Transition(run.version + 1, now, "", "abandoned", RunStatus.pending.value)
    return _record(
        run, [entry], now, status=RunStatus.pending, attempts=attempts, retry_at=retry_at
    )


def requeue(run: RunRecord, now: datetime) -> RunRecord:
    """A failed run made runnable again, its attempts forgotten (an operator's decision).

    Raises:
        InvalidArgument: the run has not failed.
    """
    if run.status is not RunStatus.failed:
        raise InvalidArgument(
            f"run {run.run_id!r} is {run.status.value}, not failed: nothing to requeue"
        )
    entry = Transition(run.version + 1, now, "", "requeue", RunStatus.pending.value)
    return _record(run, [entry], now, status=RunStatus.pending, attempts=0, retry_at=None)


def finish_step(
    run: RunRecord, name: str, content: JSON, state: State, cursor: str | None, now: datetime
) -> RunRecord:
    """Move the cursor past step `name`, which ended in `state` with `content`, to `cursor`.

    Only whoever executes the run does this, so the run is `running` (or `completed` when
    `cursor` is None, past the last step).

    This is a transition of its own even for a gate that finished earlier (say, by a decision
    recorded from another process): every write must raise the version, or compare-and-set
    could not tell two writers apart.
    """
    results = run.results
    if state is State.done:
        results = (*tuple(r for r in results if r.name != name), StepResult(name, content))
    status = RunStatus.completed if cursor is None else RunStatus.running
    entry = Transition(run.version + 1, now, name, "completed", state.value)
    return _record(run, [entry], now, results=results, cursor=cursor, status=status, error=None)
