"""The workflow explorer, its generated paths and `run_path`: every shortest path of every
example plays on every store and ends where the exploration says; generated workflows and a
person's generated behaviour agree with the model on every store; the checks report what a
definition hides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from statemachine import (
    Condition,
    ExplorationFailed,
    HumanReview,
    Loop,
    OnReject,
    PathDiverged,
    Router,
    Step,
    Steps,
    Store,
    Workflow,
)
from statemachine.testing import (
    Harness,
    Move,
    Path,
    Place,
    WorkflowMachine,
    decisions,
    explore_workflow,
    run_path,
    workflows,
)
from statemachine.testing.paths import _Script, scripted

from .explored import example_workflows


def work(step_input: Any) -> str:
    return "output"


def loops(count: int, top: int, timeout: float | None = 60) -> Workflow:
    """`count` loops in a row, each reviewed at every iteration, retried on rejection."""
    review = HumanReview(requires_iteration_review=True, on_reject=OnReject.retry, timeout=timeout)
    steps = [
        Loop(name=f"draft{n}", steps=[Step(name="write", executor=work)], max_iterations=top,
             human_review=review)
        for n in range(count)
    ]  # fmt: skip
    return Workflow("loops", steps)


EXAMPLES = example_workflows()


def test_the_examples_have_workflows_and_no_problems() -> None:
    assert len(EXAMPLES) >= 30
    for name, workflow in EXAMPLES.items():
        exploration = explore_workflow(workflow)
        assert exploration.problems == (), name
        assert any(place.status == "completed" for place in exploration.places), name


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_shortest_path_of_the_examples_plays_on_every_store(
    name: str, make_store: Callable[..., Store]
) -> None:
    workflow = EXAMPLES[name]
    paths = explore_workflow(workflow).shortest_paths()
    for kind in ("memory", "file", "sqlite", "redis"):
        store = make_store(kind)
        for path in paths.values():
            ended = run_path(workflow, path, store=store)
            assert ended.status.value == path.target.status


def test_places_edges_and_paths_of_a_reviewed_loop() -> None:
    exploration = explore_workflow(loops(1, 3))
    exploration.check()
    shown = sorted(str(place) for place in exploration.places)
    assert shown == [
        "cancelled",
        "completed",
        "failed at draft0 (draft0: iterating@1)",
        "failed at draft0 (draft0: iterating@2)",
        "failed at draft0 (draft0: iterating@3)",
        "paused at draft0 (draft0: awaiting_review[review]@1)",
        "paused at draft0 (draft0: awaiting_review[review]@2)",
        "paused at draft0 (draft0: awaiting_review[review]@3)",
    ]
    paths = exploration.shortest_paths()
    assert set(paths) == set(exploration.places)
    third = next(p for p in exploration.places if "review]@3" in str(p))
    assert [move.decision for move in paths[third].moves] == ["start", "reject", "reject"]
    # Simple paths end where the run ends, and visit no place twice.
    simple = exploration.simple_paths()
    assert simple
    assert all(path.target.finished for path in simple)
    assert all(len(set(path.places)) == len(path.places) for path in simple)
    assert len(exploration.simple_paths(limit=3)) == 3


def test_ten_reviewed_loops_are_explored_whole() -> None:
    exploration = explore_workflow(loops(10, 5))
    exploration.check()
    # Each loop: five reviews, five failures; then the run's three ends.
    assert len(exploration.places) == 10 * 10 + 2 + 0
    assert len(exploration.edges) > len(exploration.places)


def test_max_iterations_bounds_the_walk() -> None:
    whole = explore_workflow(loops(1, 5))
    bounded = explore_workflow(loops(1, 5), max_iterations=2)
    assert len(bounded.places) < len(whole.places)
    assert bounded.bounded
    assert bounded.problems == ()


def test_a_branch_never_taken_and_the_steps_no_path_reaches() -> None:
    workflow = Workflow("dead", [
        Condition(name="always", evaluator=True, steps=[Step(name="yes", executor=work)],
                  else_steps=[Step(name="no", executor=work)]),
    ])  # fmt: skip
    with pytest.raises(ExplorationFailed) as failed:
        explore_workflow(workflow).check()
    assert set(failed.value.problems) == {
        "step 'always/no': no path reaches it",
        "Condition 'always': its else branch is never taken",
    }


def test_a_pause_with_no_way_out_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A (planted) machine where decisions change nothing: every pause is stuck."""
    import statemachine.testing.workflow_graph as explorer

    class Unchanged:
        def __init__(self, run: Any) -> None:
            self.run = run

    monkeypatch.setattr(explorer, "decide", lambda run, *a, **k: Unchanged(run))
    problems = explore_workflow(loops(1, 2, timeout=None)).problems
    assert problems == (
        "paused at draft0 (draft0: awaiting_review[review]@1): a pause with no way out (only "
        "cancelling ends it)",
    )


def test_an_iteration_past_its_maximum_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A (planted) gate that forgets its maximum."""
    import statemachine.testing.workflow_graph as explorer

    real = vars(explorer)["decide"]

    def decide(run: Any, *args: Any, **kwargs: Any) -> Any:
        decided = real(run, *args, **kwargs)
        gate = decided.run.gate("draft0")
        assert gate is not None
        object.__setattr__(gate, "iteration", gate.iteration + 5)  # past what Gate allows
        return decided

    monkeypatch.setattr(explorer, "decide", decide)
    problems = explore_workflow(loops(1, 2)).problems
    assert any("at iteration 6 of 2" in problem for problem in problems), problems


def test_a_path_that_the_runtime_does_not_follow_is_refused() -> None:
    exploration = explore_workflow(loops(1, 2))
    path = next(p for p in exploration.shortest_paths().values() if p.target.status == "completed")
    wrong = Path(path.moves, (*path.places[:-1], Place("cancelled")))
    with pytest.raises(PathDiverged) as diverged:
        run_path(loops(1, 2), wrong)
    assert diverged.value.expected == "cancelled"
    assert diverged.value.actual == "completed"
    unscripted = Path((Move("start"),), (path.places[0],))  # the step's outcome is missing
    with pytest.raises(PathDiverged, match="does not script"):
        run_path(loops(1, 2), unscripted)


def test_a_failing_gated_step_inside_a_pausing_condition_stores_the_pause(store: Store) -> None:
    """Found by the explorer: the runtime returned the Condition's error pause without
    storing it, so the stored run stayed `pending`."""
    workflow = Workflow("caught", [
        Condition(name="check", evaluator=True, on_error="pause", steps=[
            Step(name="risky", executor=work, requires_confirmation=True)]),
    ])  # fmt: skip
    script = _Script()
    harness = Harness(scripted(workflow, script), store)
    harness.run()
    script.outcomes.append("fail")
    harness.confirm()
    stored = store.load(harness.output.run_id)
    assert stored.status.value == "paused"
    assert stored.pending_gate is not None
    assert stored.pending_gate.name == "check"
    harness.expect_pause("check", kind="error")


@settings(max_examples=100)
@given(workflows(), decisions())
def test_generated_workflows_agree_with_the_model(workflow: Workflow, picks: list[int]) -> None:
    exploration = explore_workflow(workflow)
    exploration.check()
    run_path(workflow, _walk(exploration, picks))


@pytest.mark.parametrize("kind", ["file", "sqlite", "redis"])
def test_generated_workflows_agree_on_every_store(
    kind: str, make_store: Callable[..., Store]
) -> None:
    @settings(max_examples=15)
    @given(workflows(max_depth=1), decisions(), st.integers(0, 10**9))
    def agree(workflow: Workflow, picks: list[int], name: int) -> None:
        exploration = explore_workflow(workflow)
        run_path(workflow, _walk(exploration, picks), store=make_store(kind, f"g{name}"))

    agree()


def _walk(exploration: Any, picks: list[int]) -> Path:
    """The path a person who picks `picks` takes through the exploration."""
    leaving: dict[Place | None, list[Any]] = {}
    for edge in exploration.edges:
        leaving.setdefault(edge.source, []).append(edge)
    moves, places = [], []
    source: Place | None = None
    for pick in [0, *picks]:
        edges = leaving.get(source)
        if not edges:
            break
        edge = edges[pick % len(edges)]
        moves.append(edge.move)
        places.append(edge.target)
        source = edge.target
    return Path(tuple(moves), tuple(places))


def test_nested_containers_are_explored() -> None:
    workflow = Workflow("nested", [
        Steps(name="outer", requires_confirmation=True, steps=[
            Router(name="pick", requires_user_input=True, choices=[
                Step(name="a", executor=work), Step(name="b", executor=work,
                                                    requires_output_review=True)]),
        ]),
    ])  # fmt: skip
    exploration = explore_workflow(workflow)
    exploration.check()
    asked = {gate.asked for place in exploration.places for gate in place.gates if gate.asked}
    assert asked == {"confirmation", "route", "review"}
    for path in exploration.simple_paths():
        run_path(workflow, path)


@pytest.mark.parametrize("kind", ["memory", "file", "sqlite", "redis"])
def test_the_model_test_holds_on_every_store(kind: str, make_store: Callable[..., Store]) -> None:
    made = iter(range(10**6))

    class RouterReview(WorkflowMachine):
        workflow = EXAMPLES["agno/router_output_review.py:workflow"]

        def make_store(self) -> Store:
            return make_store(kind, f"m{next(made)}")

    run_state_machine_as_test(
        RouterReview, settings=settings(max_examples=10, stateful_step_count=10)
    )
