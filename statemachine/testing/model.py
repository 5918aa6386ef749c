"""The explorer's model of a workflow run: where the run goes from a stored record, given what
user code does.

It is written apart from the runtime's driver on purpose, from the workflow's definition and
the core's pure changes (`apply_event`, `finish_step`, `fail`): the explorer's paths and the
stateful test hold the runtime to it, so a bug in the driver shows as a disagreement instead of
being explored as if it were meant. It keeps no content: user code is a source of *outcomes*
(a unit worked or failed, a loop goes on or stops, a condition's branch, a router's routes, a
review predicate's answer), each a token the model asks `choose` for. Only what decides where
the run goes is modelled; what flows between steps is a placeholder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from statemachine.core.actions import Action, Finish, RunIteration
from statemachine.core.events import JSON, IterationCompleted, IterationFailed, Start
from statemachine.core.machine import action_of
from statemachine.core.policy import OnError
from statemachine.core.record import RunRecord, RunStatus
from statemachine.core.runs import apply_event, fail, finish_step
from statemachine.core.states import State
from statemachine.runtime.containers import Condition, Router, Steps
from statemachine.runtime.definitions import Loop, Step
from statemachine.runtime.tree import Definition

__all__ = ["FAILED", "OK", "Choose", "Model", "route_token"]

Choose = Callable[[tuple[str, ...]], str]
"""Asked at each point where user code decides, with the tokens it may answer."""

OK, FAILED = "ok", "fail"
CONTINUE, STOP = "continue", "stop"
REVIEW, PASS = "review", "pass"
IF, ELSE = "if", "else"
CONTENT = "output"
"""What every unit of the model produces: content is never consulted."""

_WALK_LIMIT = 10_000
"""Steps a single settle may take: more means the walk does not end (a bug)."""


def route_token(routes: tuple[str, ...]) -> str:
    """The token of a router selector that chose `routes`."""
    return "route:" + ",".join(routes)


class Model:
    """The walk of runs of one workflow definition; `visited` collects the step keys reached."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.visited: set[str] = set()
        self.chosen: set[tuple[str, str]] = set()  # (container key, branch or route)

    def settle(self, run: RunRecord, now: datetime, choose: Choose) -> RunRecord:
        """The run, executed from where it stands until it pauses or ends.

        Raises:
            RuntimeError: the walk did not end (a model or definition bug the explorer reports).
        """
        d = self.definition
        for _ in range(_WALK_LIMIT):
            if run.status not in (RunStatus.pending, RunStatus.running):
                return run
            chain = self._due(run)
            key = chain[-1]
            self.visited.add(key)
            node = d.nodes[key]
            if not d.gated(key):
                failed = isinstance(node, Step) and self._unit(node, choose) == FAILED
                if failed:
                    run = self._failure(run, key, now)
                else:
                    run = self._finish(run, chain, State.done, CONTENT, now)
                continue
            gate = run.gate(key) or d.new_gate(key)
            action = action_of(gate)
            if action is None:
                start = Start(choice=self._choice(key, choose))
                run, action = apply_event(run, gate, start, now, live=RunStatus.running)
            if isinstance(node, Steps | Condition | Router):
                if isinstance(action, RunIteration):
                    gate = run.gate(key)  # type: ignore[assignment]
                    assert gate is not None
                    self.chosen.update((key, each) for each in gate.choice)
                    if gate.position < len(d.branch(key, gate)):
                        continue  # its steps are due
                    review = self._review(key, choose)
                    done = IterationCompleted(CONTENT, review=review)
                    run, action = apply_event(run, gate, done, now, live=RunStatus.running)
            else:
                assert isinstance(node, Step | Loop)
                while isinstance(action, RunIteration):
                    run, action = self._iteration(run, key, node, now, choose)
                if action is None:  # the failure failed the run, or a Condition took it
                    continue
            if not isinstance(action, Finish):
                return run  # a pause
            if action.state is State.cancelled:
                continue
            content = CONTENT if action.state is State.done else None
            run = self._finish(run, chain, action.state, content, now)
        raise RuntimeError(f"the walk of run {run.run_id} did not end")

    def _due(self, run: RunRecord) -> list[str]:
        """From the cursor down into each container running an iteration, to its due step."""
        d = self.definition
        assert run.cursor is not None
        chain = [run.cursor]
        while True:
            key = chain[-1]
            gate = run.gate(key)
            if not isinstance(d.nodes[key], Steps | Condition | Router) or gate is None:
                return chain
            inner = d.branch(key, gate)
            if gate.state is not State.iterating:
                return chain
            self.chosen.update((key, each) for each in gate.choice)
            if gate.position >= len(inner):
                return chain
            chain.append(inner[gate.position])

    def _finish(
        self, run: RunRecord, chain: list[str], state: State, content: JSON, now: datetime
    ) -> RunRecord:
        key = chain[-1]
        if len(chain) == 1:
            cursor = self.definition.after(key)
            return finish_step(run, key, content, state, cursor, now)
        within = run.gate(chain[-2])
        assert within is not None
        return finish_step(run, key, content, state, None, now, within=within)

    def _failure(self, run: RunRecord, key: str, now: datetime) -> RunRecord:
        """A unit failed for good: the run fails, unless a Condition around it takes it."""
        catcher = self.definition.catcher(key)
        if catcher is None:
            return fail(run, key, f"{key} failed", now)
        gate = run.gate(catcher)
        assert gate is not None
        failed = IterationFailed(f"{key} failed")
        return apply_event(run, gate, failed, now, live=RunStatus.running)[0]

    def _unit(self, step: Step | Loop, choose: Choose) -> str:
        """One call of a step's user code, retried as its `max_retries` say."""
        outcome = choose((OK, FAILED))
        if outcome == FAILED and isinstance(step, Step):
            for _ in range(step.max_retries):
                choose((FAILED,))  # the retries fail too: the unit failed
        return outcome

    def _iteration(
        self, run: RunRecord, key: str, node: Step | Loop, now: datetime, choose: Choose
    ) -> tuple[RunRecord, Action | None]:
        gate = run.gate(key)
        assert gate is not None
        body = node.steps if isinstance(node, Loop) else (node,)
        worked = all(self._unit(each, choose) == OK for each in body)
        if not worked:
            if gate.policy.on_error is OnError.fail:
                return self._failure(run, key, now), None
            failed = IterationFailed(f"{key} failed")
            return apply_event(run, gate, failed, now, live=RunStatus.running)
        go_on = False
        if isinstance(node, Loop):
            go_on = True
            if node.should_continue is not None and not gate.policy.reviews_iterations:
                go_on = choose((CONTINUE, STOP)) == CONTINUE
        review = self._review(key, choose) if gate.policy.reviews_iterations else True
        completed = IterationCompleted(CONTENT, go_on, review)
        return apply_event(run, gate, completed, now, live=RunStatus.running)

    def _review(self, key: str, choose: Choose) -> bool:
        policy = self.definition.policies.get(key)
        if policy is None or not callable(policy.requires_output_review):
            return True
        return choose((REVIEW, PASS)) == REVIEW

    def _choice(self, key: str, choose: Choose) -> tuple[str, ...]:
        """The branch or routes a container's code chooses as it starts; none when a human
        chooses."""
        node = self.definition.nodes[key]
        policy = self.definition.policies.get(key)
        if isinstance(node, Condition):
            if policy is not None and policy.requires_confirmation:
                return (IF,)
            if isinstance(node.evaluator, bool):
                return (IF,) if node.evaluator else (ELSE,)
            return (choose((IF, ELSE)),)
        if not isinstance(node, Router) or node.selector is None:
            return ()
        if policy is not None and policy.requires_user_input:
            return ()
        names = tuple(choice.name for choice in node.choices)
        options: list[tuple[str, ...]] = [(name,) for name in names]
        if node.allow_multiple_selections and len(names) > 1:
            options.append(names)
        picked = choose(tuple(route_token(routes) for routes in options))
        return tuple(picked.removeprefix("route:").split(","))
