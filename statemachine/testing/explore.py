"""Exhaustive exploration of one gate policy: every reachable (state, iteration) and edge.

The machine's behaviour depends only on the policy, `max_iterations`, the state and the
iteration counter (feedback texts and outputs are carried, never consulted), so a breadth-first
walk over (state, iteration) nodes, trying every kind of event at each, visits everything the
gate can ever do. The walk then checks the properties every gate must have.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import attrs

from statemachine.core.errors import ExplorationFailed, StateMachineError, TransitionRefused
from statemachine.core.events import (
    Cancel,
    Confirm,
    Event,
    IterationCompleted,
    Reject,
    Start,
    Timeout,
)
from statemachine.core.machine import step
from statemachine.core.policy import HumanReview
from statemachine.core.record import Gate
from statemachine.core.states import State
from statemachine.core.table import Trigger, resolve

__all__ = ["PROBES", "Edge", "Exploration", "ExplorationFailed", "Node", "explore"]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

PROBES: tuple[tuple[str, Callable[[int], Event]], ...] = (
    ("start", lambda k: Start()),
    ("confirm", lambda k: Confirm()),
    ("reject", lambda k: Reject()),
    ("reject(feedback)", lambda k: Reject(f"feedback on iteration {k}")),
    ("timeout", lambda k: Timeout()),
    ("cancel", lambda k: Cancel()),
    ("completed(continue)", lambda k: IterationCompleted(f"output {k}", should_continue=True)),
    ("completed(stop)", lambda k: IterationCompleted(f"output {k}", should_continue=False)),
)
"""Every kind of event, by label: one of each is tried at every node."""


@attrs.frozen(order=True)
class Node:
    """A gate's position: its state and iteration counter."""

    state: State = attrs.field(order=list(State).index)
    iteration: int

    def __str__(self) -> str:
        return f"{self.state.value}@{self.iteration}"


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
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    problems: tuple[str, ...]

    def check(self) -> None:
        """Raise `ExplorationFailed`, listing every problem, unless there is none."""
        if self.problems:
            raise ExplorationFailed(self, self.problems)


def explore(policy: HumanReview, max_iterations: int = 3) -> Exploration:
    """Walk every state the gate can reach under `policy` and check that:

    - every non-terminal node can reach a terminal one (no gate is stuck forever);
    - terminal nodes accept no event, refusing each with `TransitionRefused` naming the state
      and the event;
    - the iteration counter stays between 0 and `max_iterations`;
    - every refusal is a typed `TransitionRefused`, never another exception.

    Args:
        policy: the gate's `HumanReview` (a `Loop`'s or a `Step`'s).
        max_iterations: the loop's maximum; 1 for a `Step`.
    """
    start = Gate(name="explored", policy=policy, max_iterations=max_iterations)
    first = Node(start.state, start.iteration)
    records: dict[Node, tuple[Gate, datetime]] = {first: (start, _EPOCH)}
    queue = deque([first])
    edges: list[Edge] = []
    problems: list[str] = []
    while queue:
        node = queue.popleft()
        gate, now = records[node]
        for label, make in PROBES:
            event = make(gate.iteration)
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
            except StateMachineError as exc:
                problems.append(f"{node}: {label} raised {type(exc).__name__} ({exc})")
                continue
            except Exception as exc:
                problems.append(f"{node}: {label} raised untyped {type(exc).__name__} ({exc})")
                continue
            target = Node(new.state, new.iteration)
            trigger = resolve(event, policy, gate.iteration, max_iterations)
            edges.append(Edge(node, label, trigger, target))
            if gate.state.is_terminal:
                problems.append(f"{node}: terminal state accepted {label}")
            if target not in records:
                records[target] = (new, at)
                queue.append(target)
    nodes = sorted(records)
    problems.extend(_problems(nodes, edges, max_iterations))
    return Exploration(policy, max_iterations, tuple(nodes), tuple(edges), tuple(problems))


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
