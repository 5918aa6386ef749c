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

from statemachine.core.actions import Action
from statemachine.core.errors import (
    DeadlinePassed,
    DecisionConflict,
    InvalidArgument,
    StaleRequest,
    shorten,
)
from statemachine.core.events import (
    JSON,
    Cancel,
    Confirm,
    Event,
    IterationCompleted,
    Reject,
    Start,
    Timeout,
)
from statemachine.core.machine import step
from statemachine.core.record import (
    MAX_HISTORY,
    Answer,
    Gate,
    RunRecord,
    RunStatus,
    StepResult,
    Transition,
)
from statemachine.core.states import State

__all__ = [
    "DecisionResult",
    "Outcome",
    "Verdict",
    "abandoned",
    "apply_event",
    "cancel_run",
    "check_decision",
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
    """What recording a decision did. A decision that cannot be recorded raises instead (a
    `DecisionRefused`: stale, past its deadline, or conflicting with an earlier one)."""

    applied = "applied"
    """The decision was recorded and the gate moved on."""
    duplicate = "duplicate"
    """This decision (by its id) was recorded before; nothing changed."""


@attrs.frozen
class DecisionResult:
    """The answer to `decide`: the outcome and the run as it now stands."""

    outcome: Outcome
    run: RunRecord


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
    if new_gate.state.is_paused:
        status = RunStatus.paused
    elif new_gate.state is State.cancelled:
        status = RunStatus.cancelled
    else:
        status = live
    if answered is None:
        return _record(run, [entry], now, gates=gates, status=status, error=None), action
    answers = (*run.answers, answered)
    changed = _record(run, [entry], now, gates=gates, status=status, error=None, answers=answers)
    return changed, action


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


_MAX_ID = 200


def check_decision(
    request_id: object, verdict: object, feedback: object, decision_id: object
) -> Verdict:
    """Refuse a decision's arguments of the wrong type or shape, before anything is read or
    written: every store goes through here, so they all refuse the same things.

    Raises:
        InvalidArgument: which argument, and why.
    """
    try:
        checked = verdict if type(verdict) is Verdict else Verdict(verdict)
    except ValueError:
        raise InvalidArgument(
            f"decision must be 'confirm' or 'reject', not {shorten(verdict)}"
        ) from None
    for name, value in (("request_id", request_id), ("decision_id", decision_id)):
        if value is None:
            continue
        if type(value) is not str or not 0 < len(value) <= _MAX_ID or not value.isprintable():
            raise InvalidArgument(
                f"{name} must be None or a printable string of 1 to {_MAX_ID} characters, "
                f"not {shorten(value)}"
            )
    if feedback is not None:
        if type(feedback) is not str:
            raise InvalidArgument(f"feedback must be a string or None, not {shorten(feedback)}")
        try:
            feedback.encode()
        except UnicodeEncodeError:
            raise InvalidArgument("feedback holds a lone surrogate: it is not valid text") from None
    return checked


def feedback_digest(feedback: str | None) -> str | None:
    """What a decision's record keeps of its feedback: enough to tell a retry from another
    decision, without storing the text twice (the gate keeps it)."""
    if feedback is None:
        return None
    import hashlib  # here: only decisions need it, and it costs import time

    return hashlib.blake2b(feedback.encode(), digest_size=8).hexdigest()


def decide(
    run: RunRecord,
    request_id: str | None,
    verdict: Verdict,
    *,
    feedback: str | None = None,
    decision_id: str,
    decided_at: datetime | None = None,
    now: datetime,
) -> DecisionResult:
    """Record a human decision on the request `request_id` (None: the pending one).

    The rule for time: `now` is when the decision is recorded, and decides. Recorded at or
    before the deadline, the decision wins over any timeout; after it, it is refused. The
    caller's `decided_at`, when given, is what the history shows (it must fall between the
    request's creation and `now`).

    Returns:
        `applied` with the new run, or `duplicate` (this decision id was recorded before with
        the same request, verdict and feedback) with the run unchanged.

    Raises:
        DecisionConflict: the decision id was recorded for another decision.
        DeadlinePassed: recorded after the deadline; apply `expire` to store the timeout.
        StaleRequest: the request is not pending (decided, timed out... or unknown), or no
            request is, when `request_id` is None.
        InvalidArgument: `decided_at` is before the request was made.
    """
    digest = feedback_digest(feedback) if verdict is Verdict.reject else None
    earlier = run.answer(decision_id=decision_id)
    if earlier is not None:
        if request_id is not None and request_id != earlier.request_id:
            raise DecisionConflict(decision_id, earlier.request_id, "another request")
        if (earlier.how, earlier.digest) != (verdict.value, digest):
            what = "another verdict" if earlier.how != verdict.value else "other feedback"
            raise DecisionConflict(decision_id, earlier.request_id, what)
        return DecisionResult(Outcome.duplicate, run)
    if any(entry.decision_id == decision_id for entry in run.history):
        return DecisionResult(Outcome.duplicate, run)  # recorded before answers were kept
    gate = run.pending_gate
    pending = None if gate is None else gate.request
    if request_id is None and pending is not None:
        request_id = pending.request_id
    if gate is None or pending is None or pending.request_id != request_id:
        raise _not_pending(run, request_id, None if pending is None else pending.request_id, now)
    if pending.deadline is not None and now > pending.deadline:
        raise DeadlinePassed(pending.request_id, pending.deadline, now)
    if (
        decided_at is not None
        and pending.created_at is not None
        and decided_at < pending.created_at
    ):
        raise InvalidArgument(
            f"decided_at {decided_at.isoformat()} is before request {shorten(request_id)} was "
            f"made, at {pending.created_at.isoformat()}"
        )
    at = now if decided_at is None else min(decided_at, now)
    event: Event
    if verdict is Verdict.confirm:
        event = Confirm(request_id=request_id, decided_at=at)
    else:
        event = Reject(feedback, request_id=request_id, decided_at=at)
    answer = Answer(pending.request_id, verdict.value, decision_id, digest)
    new, _ = apply_event(run, gate, event, now, decision_id=decision_id, answered=answer)
    return DecisionResult(Outcome.applied, new)


def _not_pending(
    run: RunRecord, request_id: str | None, pending_id: str | None, now: datetime
) -> StaleRequest | DeadlinePassed:
    ended = None if request_id is None else run.answer(request_id=request_id)
    if ended is None:
        return StaleRequest(request_id, pending_id)
    if ended.how == "timeout" and ended.deadline is not None:
        return DeadlinePassed(ended.request_id, ended.deadline, now)
    reasons = {"cancel": "the run was cancelled while it waited"}
    return StaleRequest(
        request_id, pending_id, reasons.get(ended.how, f"it was decided already ({ended.how})")
    )


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
        ended = None if live.request is None else Answer(live.request.request_id, "cancel")
        return apply_event(run, live, Cancel(), now, answered=ended)[0]
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
