"""The sans-IO plan of a run: what to execute, what to commit, where to pause.

Theory of operation. `drive` is a generator that holds every decision of the runtime and does
no I/O. It yields *effects* (`Now`, `Load`, `Version`, `Commit`, `Call`, `Ask`, `Fork`,
`Emit`) and is sent their results; a shell carries them out. The synchronous shell calls the
store and user code directly, the asyncio shell awaits them, and neither decides anything,
so the two cannot drift. As an h11 caller dispatches on the events it gets, the driver
dispatches on the actions the core's `step` returns: `RunIteration` runs user code (or, in a
container, the steps inside it), a request pauses, `Finish` moves on. A run resumed from
storage starts from `action_of(gate)`, the action the stored gate stands at, which the core
computes in the same one place as `step` does.

Where the run is: its cursor names the top-level step, and each container that is running an
iteration names, by its gate's position, the step inside it that is due (`Definition.due`).
A step inside a container that finishes advances its container; a top-level one moves the
cursor.

A run is committed (compare-and-set on its version) before each unit of user code but the
first, at every pause, at the end and on failure: one durable write per unit of work, pauses
included, and a crash loses at most the unit that was running.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import attrs

from statemachine.core.actions import (
    Action,
    Finish,
    RequestErrorReview,
    RequestInput,
    RequestReview,
    RequestRoute,
    RunIteration,
)
from statemachine.core.errors import VersionConflict
from statemachine.core.events import JSON, IterationCompleted, Start, json_copy
from statemachine.core.machine import action_of
from statemachine.core.policy import UserInputField
from statemachine.core.record import Gate, RunRecord, RunStatus
from statemachine.core.runs import apply_event, can_expire, expire, finish_step, notify
from statemachine.core.states import State
from statemachine.runtime.calls import Failed
from statemachine.runtime.containers import Condition, Node, Parallel, Router, Steps
from statemachine.runtime.definitions import Loop, Step
from statemachine.runtime.effects import NOW, Ask, Commit, Effect, Emit, Load, Plan, Version
from statemachine.runtime.requirements import message_of
from statemachine.runtime.stream import (
    ConditionExecutionCompletedEvent,
    ConditionExecutionStartedEvent,
    ParallelExecutionCompletedEvent,
    ParallelExecutionStartedEvent,
    RouterExecutionCompletedEvent,
    RouterExecutionStartedEvent,
    RouterPausedEvent,
    StepCompletedEvent,
    StepContinuedEvent,
    StepErrorEvent,
    StepOutputReviewEvent,
    StepPausedEvent,
    StepsExecutionCompletedEvent,
    StepsExecutionStartedEvent,
    WorkflowCancelledEvent,
    WorkflowCompletedEvent,
    WorkflowEvent,
    WorkflowStartedEvent,
)
from statemachine.runtime.tree import CONTAINERS, Definition
from statemachine.runtime.units import Units, content_of, leaf, succeeded
from statemachine.store.values import RetryPolicy

__all__ = ["drive", "paused_events", "prepare"]


def prepare(
    definition: Definition, run_id: str, seen: RunRecord | None, fresh: bool = False
) -> Plan:
    """The run to execute: the caller's, if no one changed it since (every write raises the
    version, so the same version is the same run), else the stored one; with an overdue
    timeout applied first, since no read shows a pause past its deadline. A `fresh` run (read
    just now, under the lease) is not checked again: the first commit's compare-and-set is.

    Raises:
        ConflictError: the run changed since the caller's view was read.
    """
    if seen is None:
        run: RunRecord = yield Load(run_id)
    elif fresh:
        run = seen
    else:
        stored = yield Version(run_id)
        if stored != seen.version:
            raise VersionConflict(seen.run_id, seen.version, stored)
        run = seen
    if run.retry_at is not None and not run.attempts and run.status is RunStatus.pending:
        run = attrs.evolve(run, retry_at=None)  # a new run's hold-off for its creator is over
    expired = expire(run, (yield NOW)) if can_expire(run) else None
    if expired is not None:
        yield Commit(expired, run.version)
        run = expired
    definition.check(run)
    return run


def paused_events(run: RunRecord, gate: Gate, action: Action, node: Node) -> list[WorkflowEvent]:
    """The events of a pause: the peer framework's event for its kind, then the one
    `StepPausedEvent` that ends the stream (the core's action says what is asked, and what a
    review is of)."""
    request = gate.request
    assert request is not None
    name = node.name
    message = message_of(gate, type(node).__name__, name)
    announced: list[WorkflowEvent] = []
    output = schema = choices = error = None
    if isinstance(action, RequestReview):
        output = json_copy(action.output)
        announced.append(StepOutputReviewEvent(run.run_id, name, message, output))
    elif isinstance(action, RequestRoute):
        choices = action.choices
        announced.append(RouterPausedEvent(run.run_id, name, choices, message, action.multiple))
    elif isinstance(action, RequestErrorReview):
        error = action.error
        announced.append(StepErrorEvent(run.run_id, name, error))
    elif isinstance(action, RequestInput):
        schema = tuple(_field(field) for field in action.fields)
    paused = StepPausedEvent(
        run.run_id, name, request.request_id, request.kind, message, request.deadline,
        gate.iteration, output, schema or (), choices or (), error,
    )  # fmt: skip
    return [*announced, paused]


def _field(field: UserInputField) -> dict[str, JSON]:
    allowed = None if field.allowed_values is None else json_copy(list(field.allowed_values))
    return {
        "name": field.name, "field_type": field.field_type, "description": field.description,
        "required": field.required, "allowed_values": allowed,
    }  # fmt: skip


class _Driver(Units):
    """One execution of a run: the walk through its steps."""

    def run(self, run_id: str, seen: RunRecord | None, fresh: bool = False) -> Plan:
        run = yield from prepare(self.definition, run_id, seen, fresh)
        self.committed = run.version
        if self.events:
            yield Emit(WorkflowStartedEvent(run.run_id, self.definition.name, run.cursor))
            last = run.history[-1] if run.history else None
            if last is not None and last.decision_id is not None:  # resumed by a decision
                decided = run.answer(decision_id=last.decision_id)
                how = last.event if decided is None else decided.how
                yield Emit(StepContinuedEvent(run.run_id, leaf(last.name), how))
        while True:
            if run.status.is_finished:
                yield from self._commit(run, last=True)
                ended = (
                    WorkflowCancelledEvent
                    if run.status is RunStatus.cancelled
                    else (WorkflowCompletedEvent)
                )
                yield Emit(ended(run.run_id, run.status, json_copy(content_of(run))))
                return run
            chain = self.definition.due(run)
            key = chain[-1]
            within = run.gate(chain[-2]) if len(chain) > 1 else None
            node = self.definition.nodes[key]
            if not self.definition.gated(key):
                assert isinstance(node, (Step, Parallel))
                if not (yield from self._unit(run)):
                    return (yield from self._hand_over(run))
                run = yield from self._finished_plain(run, key, node, within)
                if run.status is RunStatus.failed:
                    return run
                continue
            outcome = yield from self._gate(run, key, node)
            if isinstance(outcome, RunRecord):
                # A Condition that took a failure skips (running) or pauses for a person; the
                # pause is not stored yet: the loop stores and announces it at the Condition.
                if outcome.status is RunStatus.running or (
                    outcome.status is RunStatus.paused and outcome.version != self.committed
                ):
                    run = outcome
                    continue
                return outcome  # paused, failed or handed over
            run, action = outcome
            if action is None:
                continue  # a container's steps are due
            if action.state is State.cancelled:
                continue  # the run was cancelled with its gate
            now = yield NOW
            content = action.output if action.state is State.done else None
            cursor = self.definition.after(key) if within is None else None
            run = finish_step(run, key, content, action.state, cursor, now, within=within)
            yield from self._completed(run, key, node, action, content)

    def _finished_plain(
        self, run: RunRecord, key: str, node: Step | Parallel, within: Gate | None
    ) -> Plan:
        if isinstance(node, Parallel) and self.events:
            yield Emit(ParallelExecutionStartedEvent(run.run_id, leaf(key), len(node.steps)))
        content = yield from self._plain(run, key, node)
        if isinstance(content, Failed):
            return (yield from self._caught(run, key, content))
        cursor = self.definition.after(key) if within is None else None
        run = finish_step(run, key, content, State.done, cursor, (yield NOW), within=within)
        yield from self._completed(run, key, node, Finish(State.done, content), content)
        return succeeded(run)

    def _gate(
        self, run: RunRecord, key: str, node: Node
    ) -> Generator[Effect, Any, RunRecord | tuple[RunRecord, Finish | None]]:
        """Take a gated step as far as it goes: the run when it paused or failed (or was
        handed over); else the run with the gate's `Finish`, or None when the steps inside a
        container are due."""
        gate = run.gate(key) or self.definition.new_gate(key)
        action = action_of(gate)
        if action is None:  # not started: the runtime reached it
            choice = yield from self._choice(run, key, node)
            if isinstance(choice, Failed):
                return (yield from self._failed(run, choice))
            run, action = apply_event(run, gate, Start(choice=choice), (yield NOW),
                                      live=RunStatus.running)  # fmt: skip
        if isinstance(node, CONTAINERS):
            if isinstance(action, RunIteration):
                started = run.gate(key)
                assert started is not None
                gate = started
                inner = self.definition.branch(key, gate)
                if gate.position < len(inner):
                    if gate.position == 0 and not _entered(run, inner[0]):
                        yield from self._started(run, key, node, gate)
                    return run, None
                # Its steps are done: the container's iteration is, with the last content.
                content = content_of(run)
                review = yield from self._review_flag(key, content)
                completed = IterationCompleted(json_copy(content), review=review)
                run, action = apply_event(run, gate, completed, (yield NOW),
                                          live=RunStatus.running)  # fmt: skip
        else:
            assert isinstance(node, (Step, Loop))
            while isinstance(action, RunIteration):
                if not (yield from self._unit(run)):
                    return (yield from self._hand_over(run))
                run, next_action = yield from self._iteration(run, key, node, action)
                if next_action is None:  # it failed
                    return run
                action = next_action
        if not isinstance(action, Finish):  # a pause
            policy = self.definition.policies.get(key)
            if self.hooks or (policy is not None and policy.escalate_after is not None):
                run = self._owed(run, key)
            yield from self._commit(run, last=True)
            pending = run.gate(key)
            assert pending is not None
            for event in paused_events(run, pending, action, node):
                if self.events or isinstance(event, StepPausedEvent):
                    yield Emit(event)
            return run
        return run, action

    def _owed(self, run: RunRecord, key: str) -> RunRecord:
        """The pause owing its notices (to each hook for its step: the pause, a reminder, the
        escalation) and its escalation's record, stored with it."""
        gate = run.gate(key)
        assert gate is not None
        assert gate.request is not None
        name = self.definition.name_of(key)
        names = [hook for hook, steps in self.hooks if steps is None or {key, name} & steps]
        return notify(
            run, names, gate.request.request_id, gate.request.created_at or run.updated_at,
            remind_after=gate.policy.remind_after, escalate_after=gate.policy.escalate_after,
        )  # fmt: skip

    def _choice(self, run: RunRecord, key: str, node: Node) -> Generator[Effect, Any, Any]:
        """The branch or routes a container's code chooses as it starts (none when a human
        does): `Failed` when that code raised, or chose a route there is not."""
        policy = self.definition.policies.get(key)
        if isinstance(node, Condition):
            if policy is not None and policy.requires_confirmation:
                return ("if",)  # the human decides: confirming runs the steps
            evaluator = node.evaluator
            if isinstance(evaluator, bool):
                return ("if",) if evaluator else ("else",)
            answer = yield Ask(evaluator, (self._input(run, key, content_of(run)),), leaf(key))
            return answer if isinstance(answer, Failed) else ("if",) if answer else ("else",)
        if (
            not isinstance(node, Router)
            or node.selector is None
            or (policy is not None and policy.requires_user_input)
        ):
            return ()
        answer = yield Ask(node.selector, (self._input(run, key, content_of(run)),), leaf(key))
        if isinstance(answer, Failed):
            return answer
        return _routes(node, answer)

    def _started(self, run: RunRecord, key: str, node: Node, gate: Gate) -> Plan:
        if not self.events:
            return run
        name = leaf(key)
        if isinstance(node, Steps):
            yield Emit(StepsExecutionStartedEvent(run.run_id, name, len(node.steps)))
        elif isinstance(node, Condition):
            yield Emit(ConditionExecutionStartedEvent(run.run_id, name, gate.choice != ("else",)))
        elif isinstance(node, Router):
            yield Emit(RouterExecutionStartedEvent(run.run_id, name, gate.choice))
        return run

    def _completed(
        self, run: RunRecord, key: str, node: Node, action: Finish, content: JSON
    ) -> Generator[Effect, Any, None]:
        if not self.events:
            return
        name, state, shown = leaf(key), action.state, json_copy(content)
        gate = run.gate(key)
        choice = () if gate is None or state is not State.done else gate.choice
        completed: WorkflowEvent
        if isinstance(node, Steps):
            completed = StepsExecutionCompletedEvent(run.run_id, name, state, shown)
        elif isinstance(node, Condition):
            branch = None if not choice else choice[0]
            completed = ConditionExecutionCompletedEvent(run.run_id, name, state, shown, branch)
        elif isinstance(node, Router):
            completed = RouterExecutionCompletedEvent(run.run_id, name, state, shown, choice)
        elif isinstance(node, Parallel):
            completed = ParallelExecutionCompletedEvent(run.run_id, name, state, shown)
        else:
            completed = StepCompletedEvent(run.run_id, name, state, shown)
        yield Emit(completed)


def _entered(run: RunRecord, key: str) -> bool:
    """Whether the step has begun in this iteration (it has a record, or a result)."""
    return run.gate(key) is not None or any(result.name == key for result in run.results)


def _routes(router: Router, answer: Any) -> tuple[str, ...] | Failed:
    """A selector's answer (a name, a step, or a list of either) as route names."""
    picks = answer if isinstance(answer, list | tuple) else [answer]
    names = [getattr(pick, "name", pick) for pick in picks]
    known = {choice.name for choice in router.choices}
    routes = tuple(name for name in names if isinstance(name, str) and name in known)
    if not routes or len(routes) != len(names):
        return Failed(router.name, f"the selector chose {names!r}, not routes of the router")
    return routes


def drive(
    definition: Definition,
    run_id: str,
    seen: RunRecord | None = None,
    *,
    events: bool = False,
    units: int | None = None,
    retry: RetryPolicy | None = None,
    hooks: tuple[tuple[str, frozenset[str] | None], ...] = (),
    fresh: bool = False,
) -> Plan:
    """Execute the run from where it stands (see `prepare`) until it pauses, ends, fails, or
    (with `units`) has run that many units of user code and is handed over. Returns the run
    as committed.

    Args:
        seen: the run as the caller saw it, if it did (see `prepare`).
        events: emit the events of steps, iterations and containers, not only the one that
            ends the stream.
        units: stop after this many units of user code (a worker's one), leaving the run
            pending for any worker.
        retry: how a failure is retried (None: by a person, with `continue_run`).
        hooks: the `on_pause` hooks (name, the steps it is for or None for all): a pause is
            stored owing each a notice.
        fresh: `seen` was read just now, under the lease: it is not read again.
    """
    return _Driver(definition, events, units, retry, hooks).run(run_id, seen, fresh)
