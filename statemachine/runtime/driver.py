"""The sans-IO plan of a run: what to execute, what to commit, where to pause.

Theory of operation. `drive` is a generator that holds every decision of the runtime and does
no I/O. It yields *effects* (`Now`, `Load`, `Version`, `Commit`, `Call`, `Check`, `Emit`)
and is sent their results; a shell carries them out. The synchronous shell calls the store
and user code directly, the asyncio shell awaits them, and neither decides anything, so the
two cannot drift. As an h11 caller dispatches on the events it gets, the driver dispatches on
the actions the core's `step` returns: `RunIteration` runs user code, `RequestConfirmation`
and `RequestReview` pause, `Finish` moves past the step. A run resumed from storage starts
from `action_of(gate)`, the action the stored gate stands at, which the core computes in the
same one place as `step` does.

A run is committed (compare-and-set on its version) before each unit of user code but the
first, at every pause, at the end and on failure: one durable write per unit of work, pauses
included, and a crash loses at most the unit that was running.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import attrs

from statemachine.core.actions import (
    Action,
    RequestConfirmation,
    RequestReview,
    RunIteration,
)
from statemachine.core.errors import VersionConflict
from statemachine.core.events import JSON, IterationCompleted, Start, json_copy
from statemachine.core.machine import action_of
from statemachine.core.record import Gate, RunRecord, RunStatus
from statemachine.core.runs import apply_event, can_expire, expire, fail, finish_step
from statemachine.core.states import State
from statemachine.runtime.calls import Failed
from statemachine.runtime.definitions import (
    Definition,
    Loop,
    Step,
    StepInput,
    StepOutput,
    max_iterations_of,
    policy_of,
)
from statemachine.runtime.effects import NOW, Call, Check, Commit, Effect, Emit, Load, Plan, Version
from statemachine.runtime.stream import (
    LoopIterationCompletedEvent,
    LoopIterationStartedEvent,
    StepCompletedEvent,
    StepPausedEvent,
    StepStartedEvent,
    WorkflowCompletedEvent,
    WorkflowFailedEvent,
    WorkflowStartedEvent,
)
from statemachine.store.values import RetryPolicy

__all__ = ["drive", "paused_event", "prepare"]


def prepare(definition: Definition, run_id: str, seen: RunRecord | None) -> Plan:
    """The run to execute: the caller's, if no one changed it since (every write raises the
    version, so the same version is the same run), else the stored one; with an overdue
    timeout applied first, since no read shows a pause past its deadline.

    Raises:
        ConflictError: the run changed since the caller's view was read.
    """
    if seen is None:
        run: RunRecord = yield Load(run_id)
    else:
        stored = yield Version(run_id)
        if stored != seen.version:
            raise VersionConflict(seen.run_id, seen.version, stored)
        run = seen
    expired = expire(run, (yield NOW)) if can_expire(run) else None
    if expired is not None:
        yield Commit(expired, run.version)
        run = expired
    definition.check(run)
    return run


def paused_event(
    run: RunRecord, gate: Gate, action: RequestConfirmation | RequestReview
) -> StepPausedEvent:
    """The event of a pause: the request, and for a review the output under review (the
    core's `RequestReview.output`, the one place that says which output that is)."""
    request = action.request
    output = json_copy(action.output) if isinstance(action, RequestReview) else None
    return StepPausedEvent(
        run.run_id, gate.name, request.request_id, request.kind, request.message,
        request.deadline, gate.iteration, output,
    )  # fmt: skip


class _Driver:
    """One execution of a run: the state a `drive` generator carries between effects."""

    def __init__(
        self, definition: Definition, events: bool, units: int | None, retry: RetryPolicy | None
    ) -> None:
        self.definition = definition
        self.events = events
        self.units = units
        self.retry = retry
        self.worked = 0  # units of user code run so far
        self.committed = -1  # the version stored

    def run(self, run_id: str, seen: RunRecord | None) -> Plan:
        run = yield from prepare(self.definition, run_id, seen)
        self.committed = run.version
        definition = self.definition
        if self.events:
            yield Emit(WorkflowStartedEvent(run.run_id, definition.name, run.cursor))
        while True:
            if run.status.is_finished:
                yield from self._commit(run)
                yield Emit(WorkflowCompletedEvent(run.run_id, run.status, json_copy(_content(run))))
                return run
            assert run.cursor is not None
            step = definition.steps[definition.index[run.cursor]]
            gate = run.gate(step.name)
            if gate is None and not step.is_gated:
                assert isinstance(step, Step)
                if not (yield from self._unit(run)):
                    return (yield from self._hand_over(run))
                run = yield from self._plain(run, step)
                if run.status is RunStatus.failed:
                    return run
                continue
            if gate is None:
                gate = Gate(
                    name=step.name, policy=policy_of(step), max_iterations=max_iterations_of(step)
                )
            action = action_of(gate)
            if action is None:  # not started: the runtime reached it
                run, action = apply_event(run, gate, Start(), (yield NOW), live=RunStatus.running)
            while isinstance(action, RunIteration):
                if not (yield from self._unit(run)):
                    return (yield from self._hand_over(run))
                run, next_action = yield from self._iteration(run, step, action)
                if next_action is None:  # it failed
                    return run
                action = next_action
            if isinstance(action, RequestConfirmation | RequestReview):
                yield from self._commit(run)
                pending = run.gate(step.name)
                assert pending is not None
                yield Emit(paused_event(run, pending, action))
                return run
            if action.state is State.cancelled:
                continue  # the run was cancelled with its gate
            content = action.output if action.state is State.done else None
            now = yield NOW
            run = finish_step(run, step.name, content, action.state, definition.after(step), now)
            if self.events:
                completed = StepCompletedEvent(
                    run.run_id, step.name, action.state, json_copy(content)
                )
                yield Emit(completed)

    def _commit(self, run: RunRecord) -> Generator[Effect, Any, None]:
        if run.version != self.committed:
            yield Commit(run, self.committed)
            self.committed = run.version

    def _unit(self, run: RunRecord) -> Generator[Effect, Any, bool]:
        """Before a unit of user code: store what the last unit did (what needs no user code,
        a gate started or the cursor moved, can wait: it is derived again after a crash).
        False: this execution has done its units (a worker's one), and hands the run over."""
        if self.worked:
            if self.units is not None and self.worked >= self.units:
                return False
            yield from self._commit(run)
        self.worked += 1
        return True

    def _hand_over(self, run: RunRecord) -> Plan:
        """Leave the run pending for whichever worker is free to take the next unit."""
        run = attrs.evolve(run, status=RunStatus.pending)
        yield Commit(run, self.committed)
        return run

    def _failed(self, run: RunRecord, failure: Failed) -> Plan:
        now = yield NOW
        retry = self.retry
        retry_at = None if retry is None else retry.next_attempt(run.attempts + 1, now)
        run = fail(run, failure.step_name, failure.error, now, retry_at=retry_at)
        yield from self._commit(run)
        yield Emit(WorkflowFailedEvent(run.run_id, failure.step_name, failure.error))
        return run

    def _plain(self, run: RunRecord, step: Step) -> Plan:
        if self.events:
            yield Emit(StepStartedEvent(run.run_id, step.name))
        step_input = StepInput(
            input=json_copy(run.input),
            previous_step_content=json_copy(_content(run)),
            previous_step_outputs=_outputs(run),
            run_id=run.run_id,
            step_name=step.name,
            idempotency_key=f"{run.run_id}:{step.name}",
        )
        output = yield Call(step, step_input)
        if isinstance(output, Failed):
            return (yield from self._failed(run, output))
        now = yield NOW
        after = self.definition.after(step)
        run = finish_step(run, step.name, output.content, State.done, after, now)
        if self.events:
            content = json_copy(output.content)
            yield Emit(StepCompletedEvent(run.run_id, step.name, State.done, content))
        return _succeeded(run)

    def _iteration(
        self, run: RunRecord, step: Step | Loop, due: RunIteration
    ) -> Generator[Effect, Any, tuple[RunRecord, Action | None]]:
        """Run iteration `due` of the gate's work; the run, and the core's next action (None
        when the iteration failed)."""
        gate = run.gate(step.name)
        assert gate is not None
        k = due.iteration
        # With review on, every iteration after the first was reached by a rejection.
        rejected = gate.policy.reviews_iterations and k >= 2
        additional: dict[str, JSON] = (
            {"rejection_feedback": due.feedback, "previous_output": json_copy(due.previous_output)}
            if rejected
            else {}
        )
        before = _content(run)
        body: Sequence[Step]
        if isinstance(step, Loop):
            body = step.steps
            content = due.previous_output if step.forward_iteration_output and k >= 2 else before
            iteration: int | None = k
            if self.events:
                started = LoopIterationStartedEvent(
                    run.run_id, step.name, k, gate.max_iterations, due.feedback
                )
                yield Emit(started)
        else:
            body, content, iteration = (step,), before, None
            if self.events:
                yield Emit(StepStartedEvent(run.run_id, step.name))
        outputs = _outputs(run)
        step_input = None
        for each in body:
            step_input = StepInput(
                input=json_copy(run.input),
                previous_step_content=json_copy(content),
                previous_step_outputs=dict(outputs),
                additional_data=additional,
                iteration=iteration,
                run_id=run.run_id,
                step_name=each.name,
                idempotency_key=f"{run.run_id}:{gate.name}:{k}"
                + (f":{each.name}" if len(body) > 1 else ""),
            )
            output = yield Call(each, step_input)
            if isinstance(output, Failed):
                return (yield from self._failed(run, output)), None
            outputs[each.name] = attrs.evolve(output, content=json_copy(output.content))
            content = output.content
        should_continue = True
        asks = isinstance(step, Loop) and step.should_continue is not None
        if asks and not gate.policy.reviews_iterations:
            assert isinstance(step, Loop)
            assert step_input is not None
            asked = attrs.evolve(
                step_input,
                previous_step_content=json_copy(content),
                previous_step_outputs=dict(outputs),
            )
            answer = yield Check(step, asked, k)
            if isinstance(answer, Failed):
                return (yield from self._failed(run, answer)), None
            should_continue = answer
        completed = IterationCompleted(content, should_continue)
        run, action = apply_event(run, gate, completed, (yield NOW), live=RunStatus.running)
        if self.events and isinstance(step, Loop):
            yield Emit(LoopIterationCompletedEvent(run.run_id, step.name, k, json_copy(content)))
        return _succeeded(run), action


def drive(
    definition: Definition,
    run_id: str,
    seen: RunRecord | None = None,
    *,
    events: bool = False,
    units: int | None = None,
    retry: RetryPolicy | None = None,
) -> Plan:
    """Execute the run from where it stands (see `prepare`) until it pauses, ends, fails, or
    (with `units`) has run that many units of user code and is handed over. Returns the run
    as committed.

    Args:
        seen: the run as the caller saw it, if it did (see `prepare`).
        events: emit the step and iteration events, not only the one that ends the stream.
        units: stop after this many units of user code (a worker's one), leaving the run
            pending for any worker.
        retry: how a failure is retried (None: by a person, with `continue_run`).
    """
    return _Driver(definition, events, units, retry).run(run_id, seen)


def _content(run: RunRecord) -> JSON:
    return run.results[-1].content if run.results else None


def _outputs(run: RunRecord) -> dict[str, StepOutput]:
    return {r.name: StepOutput(content=json_copy(r.content), step_name=r.name) for r in run.results}


def _succeeded(run: RunRecord) -> RunRecord:
    """A unit that worked forgets earlier failed attempts."""
    if run.attempts or run.retry_at is not None:
        return attrs.evolve(run, attempts=0, retry_at=None)
    return run
