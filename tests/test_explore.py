"""The exhaustive explorer passes every policy the library accepts, and catches broken machines."""

from __future__ import annotations

import itertools

import pytest

from statemachine import HumanReview, OnError, OnReject, OnTimeout, RequestKind, State, Trigger
from statemachine.core import machine as machine_module
from statemachine.testing import Exploration, ExplorationFailed, Node, explore

POLICIES = [
    (
        HumanReview(
            requires_confirmation=confirmation,
            requires_user_input=asks,
            user_input_schema=[{"name": "n", "field_type": "int"}] if asks else [],
            requires_iteration_review=review == "iteration",
            requires_output_review=review == "output",
            on_reject=on_reject,
            on_error=on_error,
            on_timeout=on_timeout,
            timeout=timeout,
        ),
        routes,
    )
    for confirmation, asks, review, on_reject, on_error, on_timeout, timeout, routes in (
        itertools.product(
            (False, True), (False, True), ("none", "iteration", "output"), OnReject, OnError,
            OnTimeout, (None, 30), (False, True),
        )
    )
]  # fmt: skip


@pytest.mark.parametrize("max_iterations", [1, 3])
def test_every_policy_passes(max_iterations: int) -> None:
    """No policy, on a plain gate or a router's, leaves a gate stuck, lets a terminal state
    move, or runs past the maximum."""
    for policy, routes in POLICIES:
        exploration = explore(policy, max_iterations, routes)
        exploration.check()
        can_go_on = not policy.reviews_iterations or policy.on_reject is OnReject.retry
        reached = max(node.iteration for node in exploration.nodes)
        assert reached == (max_iterations if can_go_on else 1), (policy, routes)


def test_plain_loop_graph_is_exactly_as_drawn_by_hand() -> None:
    """A loop without humans and two iterations has the eight nodes and eight edges we expect."""
    exploration = explore(HumanReview(), max_iterations=2)
    assert {str(node) for node in exploration.nodes} == {
        "pending@0", "iterating@1", "iterating@2", "done@1", "done@2",
        "cancelled@0", "cancelled@1", "cancelled@2",
    }  # fmt: skip
    assert {(str(e.source), e.event, str(e.target)) for e in exploration.edges} == {
        ("pending@0", "start", "iterating@1"),
        ("pending@0", "cancel", "cancelled@0"),
        ("iterating@1", "completed(continue)", "iterating@2"),
        ("iterating@1", "completed(stop)", "done@1"),
        ("iterating@1", "cancel", "cancelled@1"),
        ("iterating@2", "completed(continue)", "done@2"),
        ("iterating@2", "completed(stop)", "done@2"),
        ("iterating@2", "cancel", "cancelled@2"),
    }


def test_review_with_retry_reaches_every_iteration_and_reviews_the_last() -> None:
    """With iteration review and retry, each iteration up to the maximum is reviewed."""
    policy = HumanReview(requires_iteration_review=True, on_reject=OnReject.retry)
    nodes = set(explore(policy, 3).nodes)
    assert {Node(State.awaiting_review, k, RequestKind.review) for k in (1, 2, 3)} <= nodes
    assert Node(State.iterating, 4) not in nodes


def test_terminal_state_that_accepts_an_event_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose `done` accepts cancel fails the exploration with that problem named."""
    broken = {**machine_module._targets(), (State.done, Trigger.cancel): State.cancelled}
    monkeypatch.setattr(machine_module, "_NEXT", broken)
    with pytest.raises(ExplorationFailed, match="done@1: terminal state accepted cancel"):
        explore(HumanReview(), 1).check()


def test_dead_end_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where awaiting_review has no exit fails: those gates could never finish."""
    broken = {
        key: target
        for key, target in machine_module._targets().items()
        if key[0] is not State.awaiting_review
    }
    monkeypatch.setattr(machine_module, "_NEXT", broken)
    exploration = explore(HumanReview(requires_iteration_review=True), 2)
    assert "awaiting_review[review]@1: cannot reach a terminal state" in exploration.problems
    with pytest.raises(ExplorationFailed):
        exploration.check()


def test_runaway_iteration_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that iterates past the maximum is reported, not crashed on."""
    broken = {
        **machine_module._targets(),
        (State.iterating, Trigger.iteration_last): State.iterating,
    }
    monkeypatch.setattr(machine_module, "_NEXT", broken)
    exploration: Exploration = explore(HumanReview(), 1)
    assert any("InvalidArgument" in problem for problem in exploration.problems)
