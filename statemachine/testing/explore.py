"""Exhaustive exploration of one gate policy: every reachable (state, iteration) and edge.

The machine's behaviour depends only on the policy, `max_iterations`, whether the gate routes,
the state, the iteration counter and the kind of the pending request (feedback texts, values
and outputs are carried or checked, never consulted), so a breadth-first walk over those
nodes, trying every kind of event at each, visits everything the gate can ever do. The walk
then checks the properties every gate must have.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import attrs

from statemachine.core.errors import ExplorationFailed, StateMachineError
from statemachine.core.events import (
    JSON,
    Advance,
    Cancel,
    Confirm,
    Edit,
    Event,
    IterationCompleted,
    IterationFailed,
    Provide,
    Reject,
    Retry,
    Select,
    Skip,
    Start,
    Timeout,
)
from statemachine.core.machine import step
from statemachine.core.policy import HumanReview, UserInputField
from statemachine.core.record import Gate, RequestKind
from statemachine.core.refusals import Refused, TransitionRefused
from statemachine.core.states import State
from statemachine.core.table import Trigger, resolve

__all__ = ["PROBES", "Edge", "Exploration", "ExplorationFailed", "Node", "explore"]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

ROUTES = ("first", "second")
"""The routes of an explored router gate."""

_SAMPLES: dict[str, JSON] = {"int": 1, "float": 1.5, "bool": True, "list": [], "dict": {}}


def fitting(fields: tuple[UserInputField, ...]) -> dict[str, JSON]:
    """Values that fit `fields`: what a human who answers correctly gives."""
    return {
        field.name: (
            field.allowed_values[0] if field.allowed_values else _SAMPLES.get(field.field_type, "x")
        )
        for field in fields
    }


PROBES: tuple[tuple[str, Callable[[Gate], Event]], ...] = (
    ("start", lambda gate: Start()),
    ("confirm", lambda gate: Confirm()),
    ("reject", lambda gate: Reject()),
    ("reject(feedback)", lambda gate: Reject(f"feedback on iteration {gate.iteration}")),
    ("provide", lambda gate: Provide(values=fitting(gate.policy.user_input_schema))),
    ("select", lambda gate: Select(choices=gate.choices[:1] or ("none",))),
    ("edit", lambda gate: Edit(output=f"edited {gate.iteration}")),
    ("retry", lambda gate: Retry()),
    ("skip", lambda gate: Skip()),
    ("timeout", lambda gate: Timeout()),
    ("cancel", lambda gate: Cancel()),
    ("completed(continue)", lambda g: IterationCompleted(f"output {g.iteration}", True)),
    ("completed(stop)", lambda g: IterationCompleted(f"output {g.iteration}", False)),
    ("failed", lambda gate: IterationFailed(f"error in iteration {gate.iteration}")),
    ("advance", lambda gate: Advance()),
)
"""Every kind of event, by label: one of each is tried at every node."""


@attrs.frozen(order=True)
class Node:
    """A gate's position: its state, iteration counter and the kind of its pending request."""

    state: State = attrs.field(order=list(State).index)
    iteration: int
    asked: RequestKind | None = attrs.field(
        default=None, order=lambda kind: "" if kind is None else kind.value
    )

    def __str__(self) -> str:
        asked = "" if self.asked is None else f"[{self.asked.value}]"
        return f"{self.state.value}{asked}@{self.iteration}"


@attrs.frozen
class Edge:
    """An accepted event: `event` (a label of `PROBES`) moved the gate from `source` to `target`."""

    source: Node
    event: str
    trigger: Trigger
    target: Node


@attrs.frozen
class Exploration:
    """What `explore` found: the nodes, the edges, and the problems (empty when all is well)."""

    policy: HumanReview
    max_iterations: int
    routes: bool
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    problems: tuple[str, ...]

    def check(self) -> None:
        """Raise `ExplorationFailed`, listing every problem, unless there is none."""
        if self.problems:
            raise ExplorationFailed(self, self.problems)


def explore(policy: HumanReview, max_iterations: int = 3, routes: bool = False) -> Exploration:
    """Walk every state the gate can reach under `policy` and check that:

    - every non-terminal node can reach a terminal one (no gate is stuck forever);
    - terminal nodes accept no event, refusing each with `TransitionRefused` naming the state
      and the event;
    - the iteration counter stays between 0 and `max_iterations`;
    - every refusal is a typed `TransitionRefused`, never another exception.

    Args:
        policy: the gate's `HumanReview` (a `Loop`'s or a `Step`'s).
        max_iterations: the loop's maximum; 1 for a `Step`.
        routes: explore a Router's gate (routes a human may select, steps inside it).
    """
    choices = ROUTES if routes else ()
    start = Gate(
        name="explored", policy=policy, max_iterations=max_iterations, choices=choices,
        members=choices,
    )  # fmt: skip
    first = Node(start.state, start.iteration)
    records: dict[Node, tuple[Gate, datetime]] = {first: (start, _EPOCH)}
    queue = deque([first])
    edges: list[Edge] = []
    problems: list[str] = []
    while queue:
        node = queue.popleft()
        gate, now = records[node]
        for label, make in PROBES:
            event = make(gate)
            # A timeout is tried once it is due; every other event at the time the node was reached.
            at = (
                gate.deadline + timedelta(seconds=1)
                if gate.deadline and label == "timeout"
                else now
            )
            try:
                new, _ = step(gate, event, at)
            except TransitionRefused as refusal:
                if refusal.state is not gate.state or refusal.event is not event:
                    problems.append(f"{node}: refusal of {label} names the wrong state or event")
                continue
            except Refused:  # a decision that does not answer the pending request
                if gate.request is None:
                    problems.append(f"{node}: {label} refused for a request it does not have")
                continue
            except StateMachineError as exc:
                problems.append(f"{node}: {label} raised {type(exc).__name__} ({exc})")
                continue
            except Exception as exc:
                problems.append(f"{node}: {label} raised untyped {type(exc).__name__} ({exc})")
                continue
            target = Node(
                new.state, new.iteration, None if new.request is None else new.request.kind
            )
            trigger = resolve(event, gate)
            edges.append(Edge(node, label, trigger, target))
            if gate.state.is_terminal:
                problems.append(f"{node}: terminal state accepted {label}")
            if target not in records:
                records[target] = (new, at)
                queue.append(target)
    nodes = sorted(records)
    problems.extend(_problems(nodes, edges, max_iterations))
    return Exploration(policy, max_iterations, routes, tuple(nodes), tuple(edges), tuple(problems))


def _problems(nodes: Iterable[Node], edges: list[Edge], max_iterations: int) -> list[str]:
    problems = [
        f"{node}: iteration outside 0..{max_iterations}"
        for node in nodes
        if not 0 <= node.iteration <= max_iterations
    ]
    finishes = {node for node in nodes if node.state.is_terminal}
    grew = True
    while grew:
        grew = False
        for edge in edges:
            if edge.target in finishes and edge.source not in finishes:
                finishes.add(edge.source)
                grew = True
    problems.extend(
        f"{node}: cannot reach a terminal state" for node in nodes if node not in finishes
    )
    return problems
