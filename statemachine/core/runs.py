"""Pure changes to a run record: apply a gate event, decide, time out, cancel, fail, finish a step.

Like `step`, nothing here does I/O or reads a clock. Every change appends its transitions to the
history and raises the version by their number, so a run's version counts its transitions.
Stores and the workflow runtime build on these; they only add loading and compare-and-set.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs

from statemachine.core.actions import Action
from statemachine.core.errors import InvalidArgument
from statemachine.core.events import (
    JSON,
    Advance,
    Cancel,
    Confirm,
    Edit,
    Event,
    IterationCompleted,
    IterationFailed,
    Provide,
    Reject,
    Retry,
    Select,
    Skip,
    Start,
    Timeout,
)
from statemachine.core.machine import step
from statemachine.core.outbox import MAX_NOTICES, Notice
from statemachine.core.record import (
    MAX_HISTORY,
    Answer,
    Gate,
    RequestKind,
    RunRecord,
    RunStatus,
    StepResult,
    Transition,
)
from statemachine.core.states import State

__all__ = [
    "abandoned",
    "apply_event",
    "can_expire",
    "cancel_run",
    "expire",
    "fail",
    "finish_step",
    "requeue",
]

_EVENT_NAMES: dict[type, str] = {
    Start: "start",
    Confirm: "confirm",
    Reject: "reject",
    Provide: "provide",
    Select: "select",
    Edit: "edit",
    Retry: "retry",
    Skip: "skip",
    Timeout: "timeout",
    Cancel: "cancel",
    IterationCompleted: "iteration_completed",
    IterationFailed: "iteration_failed",
    Advance: "advance",
}


_KEEP: Any = object()  # a field `_record` leaves as it is


def _record(
    run: RunRecord,
    entries: list[Transition],
    now: datetime,
    *,
    status: RunStatus = _KEEP,
    cursor: str | None = _KEEP,
    gates: tuple[Gate, ...] = _KEEP,
    results: tuple[StepResult, ...] = _KEEP,
    error: str | None = _KEEP,
    attempts: int = _KEEP,
    retry_at: datetime | None = _KEEP,
    answers: tuple[Answer, ...] = _KEEP,
    traceback: str | None = _KEEP,
    outbox: tuple[Notice, ...] = _KEEP,
) -> RunRecord:
    history = run.history + tuple(entries)
    if len(history) > MAX_HISTORY:
        history = history[-MAX_HISTORY:]
    # Built field by field: `attrs.evolve` costs twice as much, on every transition.
    return RunRecord(
        run_id=run.run_id,
        workflow=run.workflow,
        fingerprint=run.fingerprint,
        session_id=run.session_id,
        user_id=run.user_id,
        status=run.status if status is _KEEP else status,
        input=run.input,
        cursor=run.cursor if cursor is _KEEP else cursor,
        outline=run.outline,
        gates=run.gates if gates is _KEEP else gates,
        results=run.results if results is _KEEP else results,
        error=run.error if error is _KEEP else error,
        attempts=run.attempts if attempts is _KEEP else attempts,
        retry_at=run.retry_at if retry_at is _KEEP else retry_at,
        history=history,
        answers=run.answers if answers is _KEEP else answers,
        created_at=run.created_at,
        updated_at=now,
        version=run.version + len(entries),
        traceback=run.traceback if traceback is _KEEP else traceback,
        outbox=run.outbox if outbox is _KEEP else outbox,
    )


def apply_event(
    run: RunRecord,
    gate: Gate,
    event: Event,
    now: datetime,
    *,
    live: RunStatus = RunStatus.pending,
    decision_id: str | None = None,
    answered: Answer | None = None,
) -> tuple[RunRecord, Action]:
    """Apply `event` to `gate` (the run's record of it, or a new pending one) within `run`.

    The run's status follows the gate: paused while it waits for a human, cancelled when it is
    cancelled, and `live` otherwise (`running` for whoever executes the run, `pending` for a
    decision or a timeout recorded from outside). `answered` is how the event ended the
    pending request, kept with the run's answers.

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
    results = run.results
    retried = (  # a retry after an error runs the iteration again from its start
        gate.request is not None
        and gate.request.kind is RequestKind.error
        and new_gate.state is State.iterating
    )
    if new_gate.members and (new_gate.iteration > gate.iteration > 0 or retried):
        gates, results = _afresh(gates, results, frozenset(new_gate.members))
    elif new_gate.members and new_gate.state in _DISCARDED:
        # Nothing a skipped (or cancelled) container's steps produced flows on.
        results = tuple(r for r in results if r.name not in new_gate.members)
    if new_gate.state.is_paused:
        status = RunStatus.paused
    elif new_gate.state is State.cancelled:
        status = RunStatus.cancelled
    else:
        status = live
    answers = run.answers if answered is None else (*run.answers, answered)
    changed = _record(
        run, [entry], now, gates=gates, results=results, status=status, error=None,
        traceback=None, answers=answers,
    )  # fmt: skip
    return changed, action


_DISCARDED = frozenset({State.skipped, State.cancelled})


def _renewed(gate: Gate) -> Gate:
    return Gate(
        name=gate.name, policy=gate.policy, max_iterations=gate.max_iterations,
        choices=gate.choices, multiple=gate.multiple, members=gate.members, round=gate.round + 1,
    )  # fmt: skip


def _afresh(
    gates: tuple[Gate, ...], results: tuple[StepResult, ...], members: frozenset[str]
) -> tuple[tuple[Gate, ...], tuple[StepResult, ...]]:
    """A container's new iteration (a Router's new route) runs the steps inside it afresh:
    their gates start over (counting a round, so that their requests get new ids) and their
    results are dropped."""
    renewed = tuple(_renewed(g) if g.name in members else g for g in gates)
    return renewed, tuple(r for r in results if r.name not in members)


def can_expire(run: RunRecord) -> bool:
    """Whether a timeout can ever come due in the run as it stands: a pending request with a
    deadline, in a run that is not finished. When not, no clock need be read."""
    gate = run.pending_gate
    return gate is not None and gate.deadline is not None and not run.status.is_finished


def expire(run: RunRecord, now: datetime) -> RunRecord | None:
    """The run with its overdue timeout applied, or None when nothing is due."""
    gate = run.pending_gate
    if not can_expire(run) or gate is None or gate.deadline is None or now <= gate.deadline:
        return None
    assert gate.request is not None
    timed_out = Answer(gate.request.request_id, "timeout", deadline=gate.deadline)
    return apply_event(run, gate, Timeout(), now, answered=timed_out)[0]


def cancel_run(run: RunRecord, now: datetime) -> RunRecord:
    """The run cancelled: its live gate gets `Cancel`, or the run itself is marked cancelled.

    Raises:
        InvalidArgument: the run has completed (a cancelled run is returned unchanged).
    """
    if run.status is RunStatus.cancelled:
        return run
    if run.status is RunStatus.completed:
        raise InvalidArgument(f"run {run.run_id!r} has completed and cannot be cancelled")
    live = run.pending_gate or (run.gate(run.cursor) if run.cursor is not None else None)
    if live is not None and not live.is_terminal:
        ended = None if live.request is None else Answer(live.request.request_id, "cancel")
        return apply_event(run, live, Cancel(), now, answered=ended)[0]
    entry = Transition(run.version + 1, now, "", "cancel", RunStatus.cancelled.value)
    return _record(run, [entry], now, status=RunStatus.cancelled)


def fail(
    run: RunRecord,
    name: str,
    error: str,
    now: datetime,
    *,
    retry_at: datetime | None = None,
    traceback: str | None = None,
) -> RunRecord:
    """The run failed in step or gate `name`; what was committed stays, and may be retried.

    Args:
        retry_at: when a worker may try again; None leaves the retry to a person (a run that
            failed under a worker with its attempts used up is dead-lettered this way).
        traceback: the failure's traceback, when user code raised.
    """
    entry = Transition(run.version + 1, now, name, "failed", RunStatus.failed.value)
    return _record(
        run, [entry], now, status=RunStatus.failed, error=error, traceback=traceback,
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
    run: RunRecord,
    name: str,
    content: JSON,
    state: State,
    cursor: str | None,
    now: datetime,
    *,
    within: Gate | None = None,
) -> RunRecord:
    """Move past step `name`, which ended in `state` with `content`: to `cursor`, or, for a
    step inside a container (`within`: the container's gate), to the container's next step.

    Only whoever executes the run does this, so the run is `running` (or `completed` when
    `cursor` is None, past the last step).

    This is a transition of its own even for a gate that finished earlier (say, by a decision
    recorded from another process): every write must raise the version, or compare-and-set
    could not tell two writers apart.
    """
    results = run.results
    if state is State.done:
        results = (*tuple(r for r in results if r.name != name), StepResult(name, content))
    entry = Transition(run.version + 1, now, name, "completed", state.value)
    if within is not None:
        moved = _record(
            run, [entry], now, results=results, status=RunStatus.running, error=None, traceback=None
        )
        return apply_event(moved, within, Advance(), now, live=RunStatus.running)[0]
    status = RunStatus.completed if cursor is None else RunStatus.running
    return _record(
        run, [entry], now, results=results, cursor=cursor, status=status, error=None, traceback=None
    )


def notify(
    run: RunRecord,
    hooks: Iterable[str],
    request_id: str,
    at: datetime,
    *,
    remind_after: float | None = None,
    escalate_after: float | None = None,
) -> RunRecord:
    """The run owing notices about request `request_id`, made at `at`: to each of `hooks`, of
    the pause (due at once), a reminder (`remind_after` later) and the escalation
    (`escalate_after` later); and the escalation's own record (hook ``""``), which the sweep
    writes in the history when it comes due. Added to the write that stores the pause (it
    raises the version already): the timers are durable from the start."""
    owed = {(notice.hook, notice.request_id) for notice in run.outbox}
    named = [hook for hook in hooks if (hook, request_id) not in owed]
    timers: list[tuple[str, float, list[str]]] = [("paused", 0.0, named)]
    if remind_after is not None:
        timers.append(("reminder", remind_after, named))
    if escalate_after is not None and ("", request_id) not in owed:
        timers.append(("escalated", escalate_after, ["", *named]))
    new = tuple(
        Notice(hook, request_id, event, due=at + timedelta(seconds=after))
        for event, after, told in timers
        for hook in told
    )
    if not new:
        return run
    kept = run.outbox + new
    while len(kept) > MAX_NOTICES:  # the oldest settled notice makes way
        settled = next((n for n, notice in enumerate(kept) if notice.due is None), 0)
        kept = (*kept[:settled], *kept[settled + 1 :])
    return attrs.evolve(run, outbox=kept)


def sent(
    run: RunRecord,
    notice: Notice,
    now: datetime,
    error: str | None = None,
    *,
    give_up: bool = False,
) -> RunRecord | None:
    """The run with the delivery of `notice` recorded (delivered, or failed with `error`:
    tried again later, or not with `give_up`), and a history entry saying so; None when the
    notice is not owed any more."""
    index = next(
        (
            n
            for n, owed in enumerate(run.outbox)
            if (owed.hook, owed.request_id, owed.event)
            == (notice.hook, notice.request_id, notice.event)
            and owed.due is not None
        ),
        None,
    )
    if index is None:
        return None
    owed = run.outbox[index]
    done = owed.delivered(now) if error is None else owed.failed(error, now, final=give_up)
    outbox = (*run.outbox[:index], done, *run.outbox[index + 1 :])
    if owed.hook == "":  # the escalation's own record: a timer, no hook to call
        event = "escalated" if error is None else "escalation-moot"
    else:
        event = "notified" if error is None else "notice-failed"
    entry = Transition(run.version + 1, now, "", event, run.status.value)
    return _record(run, [entry], now, outbox=outbox)
