"""Bugs planted in the runtime are caught by the explorer's paths and by `WorkflowMachine`.

Each mutant changes one thing the runtime does and nothing the explorer's model reads: the
paths (`run_path`) and the stateful test must both notice, on a workflow where it matters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

import statemachine.runtime.driver as driver
import statemachine.store.plans as plans
from statemachine import (
    Finish,
    HumanReview,
    Loop,
    OnReject,
    PathDiverged,
    RunIteration,
    State,
    Step,
    Steps,
    Verdict,
    Workflow,
)
from statemachine.runtime.calls import Failed
from statemachine.runtime.effects import Call
from statemachine.runtime.tree import Definition
from statemachine.runtime.units import Units
from statemachine.testing import WorkflowMachine, explore_workflow, run_path


def work(step_input: Any) -> str:
    return "output"


def reviewed_loop() -> Workflow:
    review = HumanReview(requires_iteration_review=True, on_reject=OnReject.retry)
    loop = Loop(name="draft", steps=[Step(name="write", executor=work)], max_iterations=3,
                human_review=review)  # fmt: skip
    return Workflow("reviewed", [loop])


def pair() -> Workflow:
    return Workflow("pair", [
        Steps(name="pair", steps=[Step(name="first", executor=work),
                                  Step(name="second", executor=work, requires_confirmation=True)]),
    ])  # fmt: skip


def retried() -> Workflow:
    return Workflow("retried", [Step(name="flaky", executor=work, max_retries=1)])


def resumed_in_the_wrong_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container resumes one step past the one due."""
    real = Definition.due

    def due(self: Definition, run: Any) -> list[str]:
        chain = real(self, run)
        if len(chain) > 1:
            gate = run.gate(chain[-2])
            inner = self.branch(chain[-2], gate)
            if gate.position + 1 < len(inner):
                chain[-1] = inner[gate.position + 1]
        return chain

    monkeypatch.setattr(Definition, "due", due)


def skipped_after_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate rejected for another iteration is skipped instead."""
    real = vars(driver)["action_of"]

    def action_of(gate: Any) -> Any:
        action = real(gate)
        if isinstance(action, RunIteration) and action.iteration > 1:
            return Finish(State.skipped)
        return action

    monkeypatch.setattr(driver, "action_of", action_of)


def retries_off_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing step is called once more than its `max_retries` allow."""

    def called(self: Units, step: Step, step_input: Any) -> Iterator[Any]:
        output = None
        for _ in range(step.max_retries + 2):
            output = yield Call(step, step_input)
            if not isinstance(output, Failed):
                break
        return output

    monkeypatch.setattr(Units, "_called", called)


def rejection_recorded_as_approval(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store records a rejection as a confirmation."""
    real = vars(plans)["decide_run"]

    def decide_run(run: Any, request_id: Any, verdict: Verdict, **kwargs: Any) -> Any:
        if verdict is Verdict.reject:
            verdict, kwargs["feedback"] = Verdict.confirm, None
        return real(run, request_id, verdict, **kwargs)

    monkeypatch.setattr(plans, "decide_run", decide_run)


MUTANTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], Callable[[], Workflow]]] = {
    "a branch resumed in the wrong place": (resumed_in_the_wrong_place, pair),
    "a skipped gate after a rejection": (skipped_after_a_rejection, reviewed_loop),
    "a retry counter off by one": (retries_off_by_one, retried),
    "a rejection recorded as an approval": (rejection_recorded_as_approval, reviewed_loop),
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_paths_pass_without_the_mutant_and_catch_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant, make = MUTANTS[name]
    workflow = make()
    paths = list(explore_workflow(workflow).shortest_paths().values())
    for path in paths:
        run_path(workflow, path)
    plant(monkeypatch)
    caught = []
    for path in paths:
        try:
            run_path(workflow, path)
        except PathDiverged as diverged:
            caught.append(diverged)
    assert caught, f"no path caught {name}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_model_test_passes_without_the_mutant_and_catches_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant, make = MUTANTS[name]

    class Machine(WorkflowMachine):
        workflow = make()

    quick = settings(max_examples=30, stateful_step_count=8, deadline=None)
    run_state_machine_as_test(Machine, settings=quick)
    plant(monkeypatch)
    with pytest.raises(PathDiverged):
        run_state_machine_as_test(Machine, settings=quick)
