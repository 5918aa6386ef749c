"""A workflow's definition as the driver reads it: every step by its key, where it sits, the
gate it has, and which of a container's steps the current iteration runs.

A step's key is its name at the top level, and its container's key, "/", its name inside one:
names need only differ among the steps of one container, as in the peer framework, and
every gate and result is stored under a key that no other step has. Steps inside a `Loop`
body or a `Parallel` run within their parent's unit of work and have no key of their own.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from statemachine.core.errors import DefinitionChanged, DefinitionError, InvalidArgument
from statemachine.core.policy import HumanReview, OnError, OnReject, UserInputField
from statemachine.core.record import Gate, RunRecord
from statemachine.core.states import State
from statemachine.runtime.containers import Condition, Node, Parallel, Router, Steps
from statemachine.runtime.definitions import Loop, Step

__all__ = ["CONTAINERS", "Definition", "describe", "kind_of"]

CONTAINERS = (Steps, Condition, Router)
"""The kinds whose inner steps are steps of the run, each a unit of work of its own."""


def kind_of(node: Node, gated: bool = False) -> str:
    """The kind a run records for each of its steps, to tell a changed definition."""
    if isinstance(node, Step):
        return "reviewed step" if gated else "step"
    return type(node).__name__.lower()


_WHO = frozenset({
    "assignees", "candidate_groups", "forbid_self_approval", "remind_after", "escalate_after",
    "escalate_to",
})  # fmt: skip
_POLICY_FIELDS = tuple(field.name for field in attrs.fields(HumanReview) if field.name not in _WHO)
"""What a policy's shape is made of: who may decide is not (changing it changes no run)."""
_FIELD_FIELDS = tuple(field.name for field in attrs.fields(UserInputField))
_shape_json = json.JSONEncoder(sort_keys=True).encode  # json.dumps(sort_keys=True), made once


def _plain(value: object) -> object:
    """A policy's value as plain JSON data: enums by value, a predicate as True, a schema's
    fields as dicts."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(each) for each in value]
    if isinstance(value, UserInputField):
        return {name: _plain(getattr(value, name)) for name in _FIELD_FIELDS}
    return True if callable(value) else value


def describe(node: Node) -> dict[str, Any]:
    """The step's shape (names, kinds, policies, what is inside): what a workflow's
    fingerprint is made of."""
    shape: dict[str, Any] = {"name": node.name, "kind": type(node).__name__}
    review = node.human_review
    if review is not None:
        shape["policy"] = {name: _plain(getattr(review, name)) for name in _POLICY_FIELDS}
    if isinstance(node, Loop):
        shape.update(max_iterations=node.max_iterations, forward=node.forward_iteration_output)
    if isinstance(node, Step) and node.on_error is not None:
        shape["on_error"] = OnError(node.on_error).value
    if isinstance(node, Condition):
        shape["else"] = [describe(inner) for inner in node.else_steps]
        shape["on_error"] = None if node.on_error is None else OnError(node.on_error).value
    if isinstance(node, Router):
        shape["multiple"] = node.allow_multiple_selections
    inner = node.choices if isinstance(node, Router) else getattr(node, "steps", ())
    if inner:
        shape["body"] = [describe(each) for each in inner]
    return shape


def _inside(node: Node) -> tuple[Node, ...]:
    """The steps inside a container that are steps of the run."""
    if isinstance(node, Steps):
        return node.steps
    if isinstance(node, Condition):
        return (*node.steps, *node.else_steps)
    if isinstance(node, Router):
        return node.choices
    return ()


@attrs.frozen
class Definition:
    """What the driver needs of a workflow: its steps by key, and its fingerprint."""

    name: str
    steps: tuple[Node, ...]
    fingerprint: str
    nodes: dict[str, Node] = attrs.field(eq=False)
    parents: dict[str, str | None] = attrs.field(eq=False)
    policies: dict[str, HumanReview | None] = attrs.field(eq=False)
    index: dict[str, int] = attrs.field(eq=False)

    @classmethod
    def build(cls, name: str, steps: Sequence[Node]) -> Definition:
        """Index `steps` (checked) by key.

        Raises:
            DefinitionError: two steps of one container (or of the workflow) share a name.
        """
        nodes: dict[str, Node] = {}
        parents: dict[str, str | None] = {}
        policies: dict[str, HumanReview | None] = {}

        def visit(node: Node, parent: str | None) -> None:
            key = node.name if parent is None else f"{parent}/{node.name}"
            if key in nodes:
                raise DefinitionError(f"Workflow {name!r}: two steps are named {key!r}")
            nodes[key], parents[key] = node, parent
            policies[key] = _policy(node)
            if isinstance(node, Loop):
                body = [step.name for step in node.steps]
                if len(set(body)) != len(body) or node.name in body:
                    raise DefinitionError(f"Loop {node.name!r}: two of its steps share a name")
            for inner in _inside(node):
                visit(inner, key)

        for node in steps:
            visit(node, None)
        shape = _shape_json([describe(node) for node in steps])
        import hashlib  # here, not at import: loading OpenSSL's hashes takes milliseconds

        return cls(
            name=name,
            steps=tuple(steps),
            fingerprint=hashlib.sha256(shape.encode()).hexdigest()[:16],
            nodes=nodes,
            parents=parents,
            policies=policies,
            index={node.name: position for position, node in enumerate(steps)},
        )

    def name_of(self, key: str) -> str:
        """The step's own name (its key is its container's key, "/", its name)."""
        node = self.nodes.get(key)
        return key.rsplit("/", 1)[-1] if node is None else node.name

    def kind_name(self, key: str) -> str:
        """The step's kind as the peer framework names it: "Step", "Router", ..."""
        node = self.nodes.get(key)
        return "Step" if node is None else type(node).__name__

    def catcher(self, key: str) -> str | None:
        """The Condition whose `on_error` takes a failure of the step at `key` (one that says
        none of its own), as a failure of the whole Condition: the nearest one around it that
        says one."""
        node = self.nodes[key]
        if not isinstance(node, Step) or node.on_error is not None:
            return None
        parent = self.parents[key]
        while parent is not None:
            around = self.nodes[parent]
            if isinstance(around, Condition) and around.on_error not in (None, OnError.fail):
                return parent
            parent = self.parents[parent]
        return None

    def gated(self, key: str) -> bool:
        """Whether the step has a gate record (containers and loops always do)."""
        node = self.nodes[key]
        if isinstance(node, Parallel):
            return False
        return not isinstance(node, Step) or self.policies[key] is not None

    def outline(self) -> tuple[tuple[str, str], ...]:
        """(key, kind) of every step of the run: kept with each run, to tell a changed
        definition when it is resumed."""
        return tuple((key, kind_of(node, self.gated(key))) for key, node in self.nodes.items())

    def new_gate(self, key: str) -> Gate:
        """The gate record a step starts with."""
        node = self.nodes[key]
        policy = self.policies[key] or HumanReview()
        retries = policy.reviews_iterations and policy.on_reject is OnReject.retry
        top = (
            node.max_iterations
            if isinstance(node, Loop)
            else 1 + (policy.max_retries if retries else 0)
        )
        choices = tuple(choice.name for choice in node.choices) if isinstance(node, Router) else ()
        return Gate(
            name=key, policy=policy, max_iterations=top, choices=choices,
            multiple=isinstance(node, Router) and node.allow_multiple_selections,
            members=tuple(self._members(key)),
        )  # fmt: skip

    def _members(self, key: str) -> Iterator[str]:
        for inner in _inside(self.nodes[key]):
            inner_key = f"{key}/{inner.name}"
            yield inner_key
            yield from self._members(inner_key)

    def branch(self, key: str, gate: Gate) -> tuple[str, ...]:
        """The keys of the steps the container's current iteration runs, in order."""
        node = self.nodes[key]
        if isinstance(node, Condition):
            chosen = node.else_steps if gate.choice == ("else",) else node.steps
            return tuple(f"{key}/{inner.name}" for inner in chosen)
        if isinstance(node, Router):
            return tuple(f"{key}/{name}" for name in gate.choice)
        return tuple(f"{key}/{inner.name}" for inner in _inside(node))

    def due(self, run: RunRecord) -> list[str]:
        """The keys from the run's cursor down to the step due next: into each container
        that is running an iteration, to the inner step its position names."""
        assert run.cursor is not None
        key = run.cursor
        chain = [key]
        while isinstance(self.nodes[key], CONTAINERS):
            gate = run.gate(key)
            if gate is None or gate.state is not State.iterating:
                break
            inner = self.branch(key, gate)
            if gate.position >= len(inner):
                break  # its steps are done: the container's iteration is
            key = inner[gate.position]
            chain.append(key)
        return chain

    def after(self, key: str) -> str | None:
        """The top-level step after `key` (a top-level step), or None after the last."""
        position = self.index[key] + 1
        return self.steps[position].name if position < len(self.steps) else None

    def check(self, run: RunRecord) -> None:
        """Refuse a run this definition cannot execute.

        Raises:
            InvalidArgument: the run belongs to another workflow.
            DefinitionChanged: a step the run is in is not here any more, under the same
                key and kind.
        """
        if run.workflow != self.name:
            raise InvalidArgument(f"run {run.run_id!r} belongs to workflow {run.workflow!r}")
        if run.fingerprint == self.fingerprint or run.cursor is None or run.status.is_finished:
            return
        kinds = dict(run.outline)
        key = run.cursor
        while True:
            node = self.nodes.get(key)
            if node is None:
                raise DefinitionChanged(run.run_id, key, "this workflow has no such step")
            was, now = kinds.get(key), kind_of(node, self.gated(key))
            if was is not None and was != now:
                raise DefinitionChanged(run.run_id, key, f"it was a {was}, it is now a {now}")
            gate = run.gate(key)
            if (
                not isinstance(node, CONTAINERS)
                or gate is None
                or gate.state is not State.iterating
            ):
                return
            inner = self.branch(key, gate)
            if gate.position >= len(inner):
                return
            key = inner[gate.position]


def _policy(node: Node) -> HumanReview | None:
    """The gate policy a step runs with, its `on_error` included (a Step's and a
    Condition's)."""
    review = node.human_review
    if not isinstance(node, (Step, Condition)):
        return review
    own = node.on_error
    if own is None or (review is not None and review.on_error is own):
        return review
    if review is None:
        return None if own is OnError.fail else HumanReview(on_error=own)
    return attrs.evolve(review, on_error=own)
