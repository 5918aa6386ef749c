"""The units of work of a run's plan: a plain step, a `Parallel`, one iteration of a gated
step or loop; what each step's user code receives, and what a failure does.

A unit runs user code through the `Call` effect (the `Fork` effect for a Parallel's
branches, the `Ask` effect for code that decides). The driver (`driver`) commits before each
unit but the first, so a crash loses at most the unit that was running.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import attrs

from statemachine.core.actions import Action, RunIteration
from statemachine.core.events import JSON, IterationCompleted, IterationFailed, json_copy
from statemachine.core.policy import OnError
from statemachine.core.record import RunRecord, RunStatus
from statemachine.core.runs import apply_event, fail
from statemachine.runtime.calls import Failed
from statemachine.runtime.containers import Node, Parallel, Steps
from statemachine.runtime.definitions import Loop, Step, StepInput, StepOutput
from statemachine.runtime.effects import NOW, Ask, Branch, Call, Commit, Effect, Emit, Fork, Plan
from statemachine.runtime.stream import (
    LoopIterationCompletedEvent,
    LoopIterationStartedEvent,
    StepStartedEvent,
    WorkflowFailedEvent,
)
from statemachine.runtime.tree import Definition
from statemachine.store.values import RetryPolicy

__all__ = ["Units", "content_of", "leaf"]


def leaf(key: str) -> str:
    """A step's name, from its key."""
    return key.rsplit("/", 1)[-1]


def content_of(run: RunRecord) -> JSON:
    """The content of the step that finished last: what the next step sees."""
    return run.results[-1].content if run.results else None


def outputs_of(run: RunRecord) -> dict[str, StepOutput]:
    """Every finished step's output, by name (the last one of a name, when names repeat in
    different containers)."""
    return {
        leaf(r.name): StepOutput(content=json_copy(r.content), step_name=leaf(r.name))
        for r in run.results
    }


def succeeded(run: RunRecord) -> RunRecord:
    """A unit that worked forgets earlier failed attempts."""
    if run.attempts or run.retry_at is not None:
        return attrs.evolve(run, attempts=0, retry_at=None)
    return run


class Units:
    """The state one execution of a run carries between effects, and its units of work."""

    def __init__(
        self,
        definition: Definition,
        events: bool,
        units: int | None,
        retry: RetryPolicy | None,
        hooks: tuple[tuple[str, frozenset[str] | None], ...] = (),
    ) -> None:
        self.definition = definition
        self.events = events
        self.units = units
        self.retry = retry
        self.worked = 0  # units of user code run so far
        self.hooks = hooks  # the on_pause hooks: (name, the steps it is for, or None)
        self.committed = -1  # the version stored

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

    def _commit(self, run: RunRecord, last: bool = False) -> Generator[Effect, Any, None]:
        if run.version != self.committed:
            yield Commit(run, self.committed, last)
            self.committed = run.version

    def _hand_over(self, run: RunRecord) -> Plan:
        """Leave the run pending for whichever worker is free to take the next unit."""
        run = attrs.evolve(run, status=RunStatus.pending)
        yield Commit(run, self.committed, last=True)
        return run

    def _caught(self, run: RunRecord, key: str, failure: Failed) -> Plan:
        """A step failed: the run fails, unless a Condition around it takes the failure as
        its own (its `on_error`): then the run, still running, stands at that Condition,
        which pauses for a human or is skipped."""
        catcher = self.definition.catcher(key)
        if catcher is None:
            return (yield from self._failed(run, failure))
        gate = run.gate(catcher)
        assert gate is not None
        failed = IterationFailed(failure.error)
        return apply_event(run, gate, failed, (yield NOW), live=RunStatus.running)[0]

    def _failed(self, run: RunRecord, failure: Failed) -> Plan:
        now = yield NOW
        retry = self.retry
        retry_at = None if retry is None else retry.next_attempt(run.attempts + 1, now)
        run = fail(
            run, failure.step_name, failure.error, now, retry_at=retry_at,
            traceback=failure.traceback,
        )  # fmt: skip
        yield from self._commit(run, last=True)
        yield Emit(WorkflowFailedEvent(run.run_id, failure.step_name, failure.error))
        return run

    def _called(self, step: Step, step_input: StepInput) -> Generator[Effect, Any, Any]:
        """The step's output, its executor called again up to `max_retries` times on failure."""
        if not step.max_retries:
            return (yield Call(step, step_input))
        output: Any = None
        for _ in range(step.max_retries + 1):
            output = yield Call(step, step_input)
            if not isinstance(output, Failed):
                break
        return output

    def _input(self, run: RunRecord, key: str, content: JSON, **more: Any) -> StepInput:
        return StepInput(
            input=json_copy(run.input),
            previous_step_content=json_copy(content),
            previous_step_outputs=outputs_of(run),
            run_id=run.run_id,
            step_name=leaf(key),
            idempotency_key=f"{run.run_id}:{key}",
            **more,
        )

    def _plain(
        self, run: RunRecord, key: str, node: Step | Parallel
    ) -> Generator[Effect, Any, Any]:
        """Run a step with no gate (a Parallel's branches at once): its content, or `Failed`."""
        if self.events:
            yield Emit(StepStartedEvent(run.run_id, leaf(key)))
        if isinstance(node, Parallel):
            return (yield from self._parallel(run, key, node))
        output = yield from self._called(node, self._input(run, key, content_of(run)))
        return output if isinstance(output, Failed) else output.content

    def _parallel(self, run: RunRecord, key: str, node: Parallel) -> Generator[Effect, Any, Any]:
        before = content_of(run)
        branches = tuple(
            self._branch(run, f"{key}/{branch.name}", branch, before) for branch in node.steps
        )
        results = yield Fork(branches)
        for result in results:
            if isinstance(result, Failed):
                return result
        return {branch.name: result for branch, result in zip(node.steps, results, strict=True)}

    def _branch(self, run: RunRecord, key: str, node: Node, before: JSON) -> Branch:
        """One branch of a Parallel: a step, or steps chained in order."""
        if isinstance(node, Steps):
            content = before
            for inner in node.steps:
                content = yield from self._branch(run, f"{key}/{inner.name}", inner, content)
                if isinstance(content, Failed):
                    return content
            return content
        assert isinstance(node, Step)
        output = yield Call(node, self._input(run, key, before))
        for _ in range(node.max_retries):
            if not isinstance(output, Failed):
                break
            output = yield Call(node, self._input(run, key, before))
        return output if isinstance(output, Failed) else output.content

    def _review_flag(self, key: str, output: JSON) -> Generator[Effect, Any, bool]:
        """Whether `output` is to be reviewed: a review predicate decides, when there is one
        (one that fails asks for the review: nothing unapproved flows on)."""
        policy = self.definition.policies.get(key)
        predicate = None if policy is None else policy.requires_output_review
        if not callable(predicate):
            return True
        shown = StepOutput(content=json_copy(output), step_name=leaf(key))
        answer = yield Ask(predicate, (shown,), leaf(key))
        return isinstance(answer, Failed) or bool(answer)

    def _iteration(
        self, run: RunRecord, key: str, node: Step | Loop, due: RunIteration
    ) -> Generator[Effect, Any, tuple[RunRecord, Action | None]]:
        """Run iteration `due` of a gated step or loop; the run, and the core's next action
        (None when the failure failed the run)."""
        gate = run.gate(key)
        assert gate is not None
        k = due.iteration
        additional: dict[str, JSON] = {}
        if gate.policy.reviews_iterations and k >= 2:  # reached by a rejection
            additional = {
                "rejection_feedback": due.feedback,
                "previous_output": json_copy(due.previous_output),
            }
        if gate.values is not None:
            additional["user_input"] = json_copy(gate.values)
        before = content_of(run)
        if isinstance(node, Loop):
            outcome = yield from self._loop_body(run, key, node, due, additional, before)
        else:
            if self.events:
                yield Emit(StepStartedEvent(run.run_id, leaf(key)))
            step_input = self._input(run, key, before, additional_data=additional)
            step_input = attrs.evolve(step_input, idempotency_key=f"{run.run_id}:{key}:{k}")
            output = yield from self._called(node, step_input)
            # A step runs once unless a rejection asks again: nothing goes on by itself.
            outcome = output if isinstance(output, Failed) else (output.content, False)
        if isinstance(outcome, Failed):
            if gate.policy.on_error is OnError.fail:
                return (yield from self._caught(run, key, outcome)), None
            failed = IterationFailed(outcome.error)
            run, action = apply_event(run, gate, failed, (yield NOW), live=RunStatus.running)
            return run, action
        content, should_continue = outcome
        review = (
            (yield from self._review_flag(key, content)) if gate.policy.reviews_iterations else True
        )
        completed = IterationCompleted(content, should_continue, review)
        run, action = apply_event(run, gate, completed, (yield NOW), live=RunStatus.running)
        if self.events and isinstance(node, Loop):
            yield Emit(LoopIterationCompletedEvent(run.run_id, leaf(key), k, json_copy(content)))
        return succeeded(run), action

    def _loop_body(
        self, run: RunRecord, key: str, loop: Loop, due: RunIteration,
        additional: dict[str, JSON], before: JSON,
    ) -> Generator[Effect, Any, Any]:  # fmt: skip
        """A loop's body, its steps in order: (the iteration's content, whether to go on),
        or `Failed`."""
        gate = run.gate(key)
        assert gate is not None
        k = due.iteration
        if self.events:
            started = LoopIterationStartedEvent(
                run.run_id, leaf(key), k, gate.max_iterations, due.feedback
            )
            yield Emit(started)
        content = due.previous_output if loop.forward_iteration_output and k >= 2 else before
        outputs = outputs_of(run)
        body: Sequence[Step] = loop.steps
        asks = loop.should_continue is not None and not gate.policy.reviews_iterations
        step_input = None
        for position, each in enumerate(body, 1):
            step_input = StepInput(
                input=json_copy(run.input),
                previous_step_content=json_copy(content),
                previous_step_outputs=dict(outputs),
                additional_data=additional,
                iteration=k,
                run_id=run.run_id,
                step_name=each.name,
                idempotency_key=f"{run.run_id}:{key}:{k}"
                + (f":{each.name}" if len(body) > 1 else ""),
            )
            output = yield from self._called(each, step_input)
            if isinstance(output, Failed):
                return output
            if position < len(body) or asks:  # a copy for the user code that reads it next
                outputs[each.name] = attrs.evolve(output, content=json_copy(output.content))
            content = output.content
        should_continue = True
        if asks:
            assert loop.should_continue is not None
            assert step_input is not None
            asked = attrs.evolve(
                step_input,
                previous_step_content=json_copy(content),
                previous_step_outputs=dict(outputs),
            )
            answer = yield Ask(loop.should_continue, (asked, k), loop.name)
            if isinstance(answer, Failed):
                return answer
            should_continue = bool(answer)
        return content, should_continue
