"""Hypothesis strategies for whole workflows: `workflows()` draws valid definitions (every step
kind, nested, with the gates each kind supports), `decisions()` draws a person's behaviour as
a list of picks among the moves open at each pause.

Step code in a drawn workflow returns a fixed text: `run_path` and `WorkflowMachine` replace it
with scripted outcomes anyway, and the explorer never runs it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from statemachine.core.policy import UserInputField
from statemachine.runtime.containers import Condition, Node, Parallel, Router, Steps
from statemachine.runtime.definitions import Loop, Step, StepInput
from statemachine.runtime.workflow import Workflow

__all__ = ["decisions", "workflows"]

_KINDS = ("step", "gated", "loop")
_CONTAINERS = ("steps", "condition", "router", "parallel")


def _work(step_input: StepInput) -> str:
    return f"{step_input.step_name} output"


def _yes(*args: Any) -> bool:
    return True


def _first(step_input: StepInput) -> str:
    return "a"


_FIELD = UserInputField(name="level", field_type="int", description="how much")


@st.composite
def _gated(draw: st.DrawFn, name: str) -> Step:
    kind = draw(st.sampled_from(("confirm", "review", "input", "error")))
    timeout = draw(st.sampled_from((None, 60.0)))
    on_timeout = draw(st.sampled_from(("approve", "skip", "cancel")))
    if kind == "confirm":
        return Step(
            name=name, executor=_work, requires_confirmation=True, timeout=timeout,
            on_timeout=on_timeout, on_reject=draw(st.sampled_from(("skip", "cancel"))),
        )  # fmt: skip
    if kind == "review":
        return Step(
            name=name, executor=_work, timeout=timeout, on_timeout=on_timeout,
            requires_output_review=draw(st.sampled_from((True, _yes))),
            on_reject=draw(st.sampled_from(("retry", "skip", "cancel"))),
            hitl_max_retries=draw(st.integers(1, 2)),
        )  # fmt: skip
    if kind == "input":
        return Step(name=name, executor=_work, requires_user_input=True, user_input_schema=[_FIELD])
    return Step(
        name=name, executor=_work, on_error=draw(st.sampled_from(("skip", "pause"))),
        max_retries=draw(st.integers(0, 1)),
    )  # fmt: skip


@st.composite
def _loop(draw: st.DrawFn, name: str) -> Loop:
    body = [Step(name=f"{name}_body", executor=_work)]
    top = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(("review", "confirm", "continue")))
    if kind == "review":
        return Loop(
            name=name, steps=body, max_iterations=top, requires_iteration_review=True,
            on_reject=draw(st.sampled_from(("retry", "skip", "cancel"))),
        )  # fmt: skip
    if kind == "confirm":
        return Loop(name=name, steps=body, max_iterations=top, requires_confirmation=True)
    return Loop(name=name, steps=body, max_iterations=top, should_continue=_yes)


@st.composite
def _node(draw: st.DrawFn, name: str, depth: int) -> Node:
    kinds = _KINDS + (_CONTAINERS if depth > 0 else ())
    kind = draw(st.sampled_from(kinds))
    if kind == "step":
        return Step(name=name, executor=_work, max_retries=draw(st.integers(0, 1)))
    if kind == "gated":
        return draw(_gated(name))
    if kind == "loop":
        return draw(_loop(name))
    if kind == "parallel":
        return Parallel(Step(name="left", executor=_work), Step(name="right", executor=_work),
                        name=name)  # fmt: skip
    inner = draw(_nodes(depth - 1, 1, 2))
    if kind == "steps":
        return Steps(name=name, steps=inner, requires_confirmation=draw(st.booleans()))
    if kind == "condition":
        confirm = draw(st.booleans())
        return Condition(
            name=name, steps=inner, evaluator=True if confirm else _yes,
            else_steps=draw(_nodes(depth - 1, 0, 1, "e")), requires_confirmation=confirm,
            on_error=draw(st.sampled_from((None, "skip", "pause"))),
        )  # fmt: skip
    human = draw(st.booleans())
    return Router(
        name=name, choices=[*inner, Step(name="a", executor=_work)] if len(inner) < 2 else inner,
        selector=None if human else _first, requires_user_input=human,
        allow_multiple_selections=human and draw(st.booleans()),
    )  # fmt: skip


@st.composite
def _nodes(draw: st.DrawFn, depth: int, low: int, high: int, prefix: str = "s") -> list[Node]:
    count = draw(st.integers(low, high))
    return [draw(_node(f"{prefix}{index}", depth)) for index in range(count)]


def workflows(max_depth: int = 2, max_steps: int = 3) -> st.SearchStrategy[Workflow]:
    """Valid workflow definitions: 1 to `max_steps` top-level steps of every kind (plain,
    gated for confirmation, review, input or errors, loops, and with `max_depth` above 0,
    `Steps`, `Condition`, `Router` and `Parallel` holding more), with timeouts and the
    `on_reject`, `on_timeout` and `on_error` choices."""
    return _nodes(max_depth, 1, max_steps).map(lambda steps: Workflow("generated", steps))


def decisions(max_size: int = 20) -> st.SearchStrategy[list[int]]:
    """A person's behaviour: at the n-th pause, pick move ``picks[n] % len(moves)`` among the
    moves open there (as `WorkflowExploration` lists them: each decision, the timeout, and
    what user code then does)."""
    return st.lists(st.integers(0, 2**16), max_size=max_size)
