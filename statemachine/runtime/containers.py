"""The steps that hold other steps: `Steps` (a named sequence), `Condition` (a branch),
`Router` (routes chosen by code or by a human) and `Parallel` (branches run at once), with the
peer framework's names and gates.

A container is a gate of its own (it may pause before it runs, or for its output), and the
steps inside it keep their own gates, so a run may pause anywhere inside one and resume
there in another process. Only `Parallel` runs as one unit of work: nothing inside it may
pause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import attrs

from statemachine.core.errors import DefinitionError, shorten
from statemachine.core.policy import OnError, OnReject, OnTimeout, UserInputField
from statemachine.runtime.decorators import paused_with
from statemachine.runtime.definitions import Loop, Step, check_name, settle_review

__all__ = ["Condition", "Node", "Parallel", "Router", "Steps", "as_node", "as_nodes"]

Node: TypeAlias = "Step | Loop | Steps | Condition | Router | Parallel"
"""Anything a workflow, or a container, can hold."""


def as_node(value: object) -> Node:
    """`value` as a step: a definition as it is, or a plain function as a `Step` named after it
    (as the peer framework takes it)."""
    # A tuple, not a union: `Step | Loop | ...` would build a new union on every call.
    if isinstance(value, (Step, Loop, Steps, Condition, Router, Parallel)):
        return value
    name = paused_with(value).get("name") or getattr(value, "__name__", None)
    if callable(value) and isinstance(name, str):
        return Step(name=name, executor=value)
    raise DefinitionError(
        f"a step must be a Step, Loop, Steps, Condition, Router or Parallel, not {shorten(value)}"
    )


def as_nodes(values: object) -> tuple[Node, ...]:
    if values is None:
        return ()
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise DefinitionError(f"steps must be a list of steps, not {shorten(values)}")
    return tuple(as_node(value) for value in values)


def _choices(values: object) -> tuple[Node, ...]:
    """A Router's choices: steps, or lists of steps (each a `Steps` named ``steps_group_N``)."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise DefinitionError(f"choices must be a list of steps, not {values!r}")
    return tuple(
        Steps(name=f"steps_group_{n}", steps=value) if isinstance(value, list) else as_node(value)
        for n, value in enumerate(values)
    )


def _unique(kind: str, name: str, nodes: Iterable[Node]) -> None:
    names = [node.name for node in nodes]
    for each in names:
        if names.count(each) > 1:
            raise DefinitionError(f"{kind} {name!r}: two of its steps are named {each!r}")


_CONFIRMATION: dict[str, Any] = {
    "requires_confirmation": False,
    "confirmation_message": None,
    "on_reject": OnReject.skip,
    "timeout": None,
    "on_timeout": OnTimeout.cancel,
}


@attrs.frozen
class Steps:
    """A named sequence of steps, run in order; a gate of its own (it may ask to be confirmed).

    Its content is the content of the last step that ran in it. As in the peer framework,
    ``Steps("name", "description", [step, ...])`` works positionally.
    """

    name: str
    description: str | None = None
    steps: tuple[Node, ...] = attrs.field(default=(), converter=as_nodes)
    human_review: Any = attrs.field(default=None, kw_only=True)
    requires_confirmation: bool = attrs.field(default=False, kw_only=True)
    confirmation_message: str | None = attrs.field(default=None, kw_only=True)
    on_reject: OnReject | str = attrs.field(default=OnReject.skip, kw_only=True)
    timeout: float | None = attrs.field(default=None, kw_only=True)
    on_timeout: OnTimeout | str = attrs.field(default=OnTimeout.cancel, kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_name("Steps", self.name)
        if not self.steps:
            raise DefinitionError(f"Steps {self.name!r} needs at least one step")
        _unique("Steps", self.name, self.steps)
        flat = {key: getattr(self, key) for key in _CONFIRMATION}
        review = settle_review(
            self, "Steps", self.human_review, flat, _CONFIRMATION, ("requires_confirmation",)
        )
        object.__setattr__(self, "human_review", review)


def _evaluator(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool) and not callable(value):
        raise DefinitionError(
            f"Condition {getattr(instance, 'name', '?')!r}: evaluator must be True, False or "
            f"fn(step_input) -> bool, not {value!r}"
        )


@attrs.frozen(kw_only=True)
class Condition:
    """Runs `steps` when `evaluator` says so, else `else_steps` (if any).

    Attributes:
        evaluator: ``fn(step_input) -> bool`` (or an ``async def``), or a constant. With
            ``requires_confirmation``, the human decides instead: confirming runs `steps`,
            rejecting runs `else_steps` (``on_reject="else"``, the default), skips the
            condition or cancels the run.
        on_error: what a failure of a step inside does, unless that step says otherwise.
    """

    steps: tuple[Node, ...] = attrs.field(converter=as_nodes)
    evaluator: bool | Callable[..., Any] = attrs.field(default=True, validator=_evaluator)
    else_steps: tuple[Node, ...] = attrs.field(default=(), converter=as_nodes)
    name: str
    description: str | None = None
    human_review: Any = None
    requires_confirmation: bool = False
    confirmation_message: str | None = None
    on_reject: OnReject | str = OnReject.else_branch
    timeout: float | None = None
    on_timeout: OnTimeout | str = OnTimeout.cancel
    on_error: OnError | str | None = None

    def __attrs_post_init__(self) -> None:
        check_name("Condition", self.name)
        if not self.steps:
            raise DefinitionError(f"Condition {self.name!r} needs at least one step")
        _unique("Condition", self.name, (*self.steps, *self.else_steps))
        flat = {key: getattr(self, key) for key in _CONFIRMATION}
        defaults = {**_CONFIRMATION, "on_reject": OnReject.else_branch}
        review = settle_review(
            self, "Condition", self.human_review, flat, defaults, ("requires_confirmation",)
        )
        object.__setattr__(self, "human_review", review)
        if self.on_error is not None:
            object.__setattr__(self, "on_error", OnError(self.on_error))


_ROUTER: dict[str, Any] = {
    **_CONFIRMATION,
    "requires_user_input": False,
    "user_input_message": None,
    "requires_output_review": False,
    "output_review_message": None,
    "hitl_max_retries": 3,
}


@attrs.frozen(kw_only=True)
class Router:
    """Runs the routes its `selector` picks, or a human selects, in that order.

    Attributes:
        choices: the routes: steps (a list of steps is a `Steps` named ``steps_group_N``).
        selector: ``fn(step_input)`` returning a choice's name, a step, or a list of either
            (or an ``async def``). Not needed when a human selects.
        requires_user_input: a human selects the route (several, with
            ``allow_multiple_selections``); `user_input_message` asks.
        requires_output_review: the route's output is reviewed; rejecting with
            ``on_reject="retry"`` asks for a new route, up to ``hitl_max_retries`` times.
    """

    choices: tuple[Node, ...] = attrs.field(converter=_choices)
    selector: Callable[..., Any] | None = None
    name: str
    description: str | None = None
    human_review: Any = None
    requires_user_input: bool = False
    user_input_message: str | None = None
    allow_multiple_selections: bool = False
    user_input_schema: tuple[UserInputField, ...] | None = None
    """Shown to the human only: a route selection asks for a route, not values."""
    requires_confirmation: bool = False
    confirmation_message: str | None = None
    on_reject: OnReject | str = OnReject.skip
    requires_output_review: bool | Callable[..., Any] = False
    output_review_message: str | None = None
    hitl_max_retries: int = 3
    timeout: float | None = None
    on_timeout: OnTimeout | str = OnTimeout.cancel

    def __attrs_post_init__(self) -> None:
        check_name("Router", self.name)
        if not self.choices:
            raise DefinitionError(f"Router {self.name!r} needs at least one choice")
        _unique("Router", self.name, self.choices)
        if self.selector is not None and not callable(self.selector):
            raise DefinitionError(f"Router {self.name!r}: selector must be callable")
        flat = {key: getattr(self, key) for key in _ROUTER}
        allowed = ("requires_confirmation", "requires_user_input", "requires_output_review")
        review = settle_review(self, "Router", self.human_review, flat, _ROUTER, allowed)
        object.__setattr__(self, "human_review", review)
        humans_pick = review is not None and review.requires_user_input
        if self.selector is None and not humans_pick:
            raise DefinitionError(
                f"Router {self.name!r} needs a selector, or requires_user_input=True for a "
                "human to select the route"
            )


@attrs.frozen(init=False)
class Parallel:
    """Branches run at the same time, as one unit of work: threads under the synchronous API,
    tasks under asyncio. Its content is a dict of each branch's content, by name.

    Nothing inside may pause (no human gate, no ``on_error="pause"``): branches that run at
    once cannot each wait for a human, so such a definition is refused.
    """

    steps: tuple[Node, ...]
    name: str
    description: str | None

    def __init__(self, *steps: object, name: str | None = None, description: str | None = None):
        branches = list(steps)
        if branches and isinstance(branches[0], str) and name is None:
            name = str(branches.pop(0))  # the peer framework's Parallel("name", step, ...)
        object.__setattr__(self, "steps", as_nodes(branches))
        object.__setattr__(self, "name", check_name("Parallel", name))
        object.__setattr__(self, "description", description)
        if not self.steps:
            raise DefinitionError(f"Parallel {self.name!r} needs at least one step")
        _unique("Parallel", self.name, self.steps)
        for branch in self.steps:
            _unpausable(self.name, branch)

    human_review = None


def _unpausable(parallel: str, node: Node) -> None:
    """Refuse a step inside a Parallel that could pause, or a kind that runs in units."""
    if isinstance(node, Condition | Router | Loop | Parallel):
        raise DefinitionError(
            f"Parallel {parallel!r}: {type(node).__name__} {node.name!r} cannot run inside it; "
            "put Steps and Step objects in its branches"
        )
    if isinstance(node, Steps):
        if node.human_review is not None:
            raise DefinitionError(f"Parallel {parallel!r}: {node.name!r} cannot ask a human")
        for inner in node.steps:
            _unpausable(parallel, inner)
        return
    review = node.human_review
    if review is not None and (review.is_human or review.on_error is not OnError.fail):
        raise DefinitionError(
            f"Parallel {parallel!r}: step {node.name!r} cannot pause or be skipped on its own: "
            "branches run at once, as one unit of work"
        )
