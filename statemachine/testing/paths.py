"""`run_path`: play an explored path against the real runtime, on a real store, and check that
the run stands where the exploration said after every move.

The workflow's user code is swapped for code that does what the path scripts (a step's code
works or raises, a loop goes on or stops, a condition picks its branch, a router its routes, a
review predicate answers), in the order the path's moves list; decisions go through the
store and the runtime as a person's would (`Harness`), and timeouts fire through the store's
sweep under virtual time. Where the runtime and the explorer's model disagree, `PathDiverged`
says after which move, and how.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from statemachine.core.errors import PathDiverged
from statemachine.core.events import JSON
from statemachine.runtime.containers import Condition, Node, Parallel, Router, Steps
from statemachine.runtime.definitions import Loop, Step, StepInput
from statemachine.runtime.workflow import Workflow
from statemachine.testing.harness import Harness
from statemachine.testing.model import FAILED, OK, REVIEW
from statemachine.testing.places import Path, place_of

if TYPE_CHECKING:
    from statemachine.runtime.handles import RunOutput
    from statemachine.store.protocol import Store

__all__ = ["ScriptedFailure", "run_path", "scripted"]


class ScriptedFailure(Exception):
    """What a scripted step raises when the path says its code fails."""


class _Script:
    """The outcomes still to come, and what went wrong taking them."""

    def __init__(self) -> None:
        self.outcomes: deque[str] = deque()
        self.wrong: list[str] = []

    def take(self, name: str, expected: tuple[str, ...]) -> str:
        if not self.outcomes:
            self.wrong.append(f"{name} ran user code the path does not script")
            return expected[0]
        outcome = self.outcomes.popleft()
        if outcome.split(":")[0] not in expected:
            self.wrong.append(f"{name} asked for one of {expected}, the path says {outcome!r}")
            return expected[0]
        return outcome


def scripted(workflow: Workflow, script: _Script) -> Workflow:
    """`workflow` with its user code replaced by `script`'s outcomes (same name and
    fingerprint: it runs the same runs)."""
    steps = [_node(node, script) for node in workflow.steps]
    return Workflow(workflow.name, steps, workflow.store, session_id=workflow.session_id)


def _node(node: Node, script: _Script, quiet: bool = False) -> Node:
    if isinstance(node, Step):
        return attrs.evolve(
            node, executor=_executor(node.name, script, quiet), agent=None,
            requires_output_review=_predicate(node.requires_output_review, node.name, script),
            human_review=_review(node.human_review, node.name, script),
        )  # fmt: skip
    if isinstance(node, Loop):
        go_on = node.should_continue
        return attrs.evolve(
            node, steps=tuple(_step(step, script) for step in node.steps),
            should_continue=None if go_on is None else _should_continue(node.name, script),
            human_review=_review(node.human_review, node.name, script),
        )  # fmt: skip
    if isinstance(node, Parallel):  # its branches run at once: their code is not scripted
        inner = (_node(each, script, True) for each in node.steps)
        return Parallel(*inner, name=node.name, description=node.description)
    if isinstance(node, Condition):
        evaluator = node.evaluator
        return attrs.evolve(
            node, steps=tuple(_node(each, script, quiet) for each in node.steps),
            else_steps=tuple(_node(each, script, quiet) for each in node.else_steps),
            evaluator=evaluator if isinstance(evaluator, bool) else _evaluator(node.name, script),
        )  # fmt: skip
    if isinstance(node, Router):
        selector = node.selector
        return attrs.evolve(
            node, choices=tuple(_node(each, script, quiet) for each in node.choices),
            selector=None if selector is None else _selector(node.name, script),
        )  # fmt: skip
    assert isinstance(node, Steps)
    return attrs.evolve(node, steps=tuple(_node(each, script, quiet) for each in node.steps))


def _step(step: Step, script: _Script) -> Step:
    scripted_step = _node(step, script)
    assert isinstance(scripted_step, Step)
    return scripted_step


def _executor(name: str, script: _Script, quiet: bool) -> Callable[[StepInput], JSON]:
    def execute(step_input: StepInput) -> JSON:
        if not quiet and script.take(name, (OK, FAILED)) == FAILED:
            raise ScriptedFailure(f"{name} failed, as the path says")
        return f"{name} output"

    return execute


def _predicate(original: Any, name: str, script: _Script) -> Any:
    if not callable(original):
        return original
    return lambda output: script.take(f"{name}'s review predicate", (REVIEW, "pass")) == REVIEW


def _review(review: Any, name: str, script: _Script) -> Any:
    if review is None or not callable(review.requires_output_review):
        return review
    predicate = _predicate(review.requires_output_review, name, script)
    return attrs.evolve(review, requires_output_review=predicate)


def _should_continue(name: str, script: _Script) -> Callable[[StepInput, int], bool]:
    return lambda step_input, k: script.take(name, ("continue", "stop")) == "continue"


def _evaluator(name: str, script: _Script) -> Callable[[StepInput], bool]:
    return lambda step_input: script.take(name, ("if", "else")) == "if"


def _selector(name: str, script: _Script) -> Callable[[StepInput], list[str]]:
    return lambda step_input: script.take(name, ("route",)).removeprefix("route:").split(",")


def run_path(
    workflow: Workflow, path: Path, *, store: Store | None = None, input: JSON = None
) -> RunOutput:
    """Play `path` (from `WorkflowExploration.shortest_paths` or `simple_paths`) on the real
    runtime, on `store` (default: a new `MemoryStore`), and return the run as it ends.

    Raises:
        PathDiverged: after some move, the run does not stand where the path says, or its
            user code was asked for something the path does not script.
    """
    script = _Script()
    harness = Harness(scripted(workflow, script), store)
    for index, (move, expected) in enumerate(path):
        script.outcomes.extend(move.outcomes)
        _play(harness, move.decision, move.feedback, move.value, input)
        actual = place_of(harness.store.load(harness.output.run_id))
        if script.wrong or script.outcomes or actual != expected:
            unused = f"; outcomes left unused: {list(script.outcomes)}" if script.outcomes else ""
            raise PathDiverged(index, str(move), str(expected), f"{actual}{unused}" + "".join(
                f"; {wrong}" for wrong in script.wrong
            ))  # fmt: skip
    return harness.output


def _play(harness: Harness, decision: str, feedback: str | None, value: JSON, input: JSON) -> None:
    if decision == "start":
        harness.run(input)
    elif decision == "timeout":
        pending = harness.store.load(harness.output.run_id).pending_gate
        assert pending is not None
        assert pending.deadline is not None
        harness.advance((pending.deadline - harness.clock() + timedelta(seconds=1)).total_seconds())
    elif decision == "reject":
        harness.reject(feedback)
    elif decision == "provide":
        assert isinstance(value, dict)
        harness.provide(**value)
    elif decision == "select":
        assert isinstance(value, list)
        harness.select(*(str(route) for route in value))
    elif decision == "edit":
        harness.edit(value)
    else:
        getattr(harness, decision)()  # confirm, retry, skip
