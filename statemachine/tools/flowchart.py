"""Mermaid flowcharts of a user's workflow, and of where one of its runs stands.

`flowchart(workflow, run)` draws the workflow's steps in order, top to bottom: a loop, and
each container (`Steps`, `Condition` with its two branches, `Router` with its routes,
`Parallel`), as a box; each human gate as a hexagon where a run would pause (a confirmation,
input or a route before its step, a review after it, an error review when it fails), with
what a rejection, a failure or a timeout does (dotted edges). Given a run of the workflow, it
colours what the run went through, what it skipped, and where it stands: the step due, the
pending request, the step that failed, or the end.

It is a pure function of the workflow and the run record. It reads the workflow through what
it needs (`Drawable`: its name, its steps, and its definition's resolved gate policies), so
that this layer imports only the core (see `docs/architecture.md`); a step's kind is its
class name, as `Definition.kind_name` gives it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

from statemachine.core.machine import where_asked
from statemachine.core.policy import HumanReview, OnError, OnReject
from statemachine.core.record import RequestKind, RunRecord, RunStatus
from statemachine.core.states import State
from statemachine.core.table import asked_before

__all__ = ["CLASSES", "Drawable", "flowchart"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Definition(Protocol):
    @property
    def policies(self) -> Mapping[str, HumanReview | None]: ...

    def due(self, run: RunRecord) -> list[str]: ...

    def check(self, run: RunRecord) -> None: ...


class Drawable(Protocol):
    """What `flowchart` reads of a workflow: a `Workflow` is one."""

    @property
    def name(self) -> str: ...

    @property
    def steps(self) -> Sequence[_Named]: ...

    @property
    def definition(self) -> _Definition: ...


CLASSES = {
    "visited": "fill:#e8f5e9,stroke:#2e7d32",
    "skipped": "fill:#eeeeee,stroke:#9e9e9e,stroke-dasharray:4 3",
    "current": "fill:#fff3e0,stroke:#ef6c00,stroke-width:3px",
    "failed": "fill:#ffebee,stroke:#c62828,stroke-width:3px",
}
"""How a run's diagram colours its nodes: what the run went through, what it skipped, where
it stands (paused, due or finished), and the step that failed."""

_SHAPES = {
    "step": ('["', '"]'),
    "choice": ('{"', '"}'),
    "gate": ('{{"', '"}}'),
    "end": ('(["', '"])'),
    "fork": ('(("', '"))'),
}
_ASKS = {
    RequestKind.confirmation: "confirmation",
    RequestKind.input: "input",
    RequestKind.route: "route",
    RequestKind.review: "review",
    RequestKind.error: "error review",
}
_ANSWERS = {RequestKind.confirmation: "confirm", RequestKind.input: "provide"}


def _text(text: str) -> str:
    """`text` inside a quoted Mermaid label: ``#``, quotes, ``&``, angle brackets and
    backticks as entity codes, so that no name can end its label or be read as markup."""
    text = text.replace("#", "#35;")
    for char in '"&<>`':
        text = text.replace(char, f"#{ord(char)};")
    return text


class _Exit(NamedTuple):
    """An edge still to be drawn: from `source` to whatever comes next."""

    source: str
    label: str | None = None
    dotted: bool = False


class _Drawn(NamedTuple):
    """A step's body as drawn: the node that enters it, what leaves it, what fails (its
    node, or its box), and what leaves it from a gate inside that skips it (a route's)."""

    entry: str
    exits: list[_Exit]
    whole: str
    skips: tuple[_Exit, ...] = ()


class _Drawing:
    """The nodes (nested in their boxes) and the edges of one flowchart, drawn step by step.

    Nodes are declared inside their boxes and every edge after all of them: Mermaid puts a
    node in the box where it is first named.
    """

    def __init__(self, policies: Mapping[str, HumanReview | None]) -> None:
        self.policies = policies
        self.nodes: list[str] = []
        self.edges: list[str] = []
        self.depth = 1
        self.made: list[str] = []  # every node's id, in order (boxes are not nodes)
        self.count = 0
        self.body: dict[str, list[str]] = {}  # a step's own nodes (a loop's body, a fork...)
        self.starts: dict[str, str] = {}  # the node a step starts at (its first gate)
        self.inside: dict[str, list[str]] = {}  # every node drawn for a step, gates included
        self.gates: dict[tuple[str, RequestKind], str] = {}
        self.boxes = 0

    def node(self, text: str, shape: str, ident: str | None = None) -> str:
        if ident is None:
            self.count += 1
            ident = f"n{self.count}"
        self.made.append(ident)
        left, right = _SHAPES[shape]
        self.nodes.append(f"{'    ' * self.depth}{ident}{left}{_text(text)}{right}")
        return ident

    def edge(self, exit: _Exit, target: str) -> None:
        arrow = "-.->" if exit.dotted else "-->"
        label = "" if exit.label is None else f'|"{_text(exit.label)}"|'
        self.edges.append(f"    {exit.source} {arrow}{label} {target}")

    def connect(self, exits: Sequence[_Exit], target: str) -> str:
        for exit in exits:
            self.edge(exit, target)
        return target

    @contextmanager
    def box(self, kind: str, name: str, detail: str = "") -> Iterator[str]:
        self.boxes += 1
        ident = f"b{self.boxes}"
        title = _text(f"{kind} {name}{detail}")
        self.nodes.append(f'{"    " * self.depth}subgraph {ident} ["{title}"]')
        self.depth += 1
        yield ident
        self.depth -= 1
        self.nodes.append(f"{'    ' * self.depth}end")

    def sequence(
        self, steps: Sequence[Any], parent: str | None, incoming: list[_Exit], owner: str | None
    ) -> tuple[str, list[_Exit]]:
        """Draw `steps` one after the other: the first node, and what leaves the last step."""
        entry = ""
        for step in steps:
            key = step.name if parent is None else f"{parent}/{step.name}"
            incoming = self.element(step, key, incoming, owner)
            entry = entry or self.starts[key]
        return entry, incoming

    def element(self, node: Any, key: str, incoming: list[_Exit], owner: str | None) -> list[_Exit]:
        """Draw one step with its gates, entered by `incoming`; what leaves it.

        `owner` is the loop or Parallel a step without a key of its own runs in (its nodes
        are the owner's), or None for a step of the run.
        """
        first = len(self.made)
        policy = self.policies.get(key) if owner is None else None
        kind = type(node).__name__
        skips: list[_Exit] = []
        to_else: list[_Exit] = []
        for asked in () if policy is None else asked_before(policy, kind == "Router"):
            if asked is RequestKind.route:
                break  # a Router's route gate leads to its routes
            assert policy is not None
            gate = self.gate(key, asked, policy, incoming)
            incoming = [_Exit(gate, _ANSWERS[asked])]
            if policy.on_reject is OnReject.else_branch:
                to_else.append(_Exit(gate, "reject: else", True))
            else:
                skips += self.rejected(gate, policy.on_reject)
        drawn: _Drawn = getattr(self, f"_{kind.lower()}")(
            node, key, incoming, owner or key, policy, to_else
        )
        self.starts[key] = self.made[first] if len(self.made) > first else drawn.entry
        exits = drawn.exits if policy is None else self.after(key, policy, drawn)
        self.inside[key] = self.made[first:]
        return [*exits, *drawn.skips, *skips]

    def gate(
        self, key: str, kind: RequestKind, policy: HumanReview, incoming: Sequence[_Exit]
    ) -> str:
        text = _ASKS[kind]
        if kind is RequestKind.input and policy.user_input_schema:
            text += ": " + ", ".join(field.name for field in policy.user_input_schema)
        if kind is RequestKind.review and callable(policy.requires_output_review):
            text += " (when asked)"
        if policy.timeout is not None:
            text += f", timeout {policy.timeout:g} s: {policy.on_timeout.value}"
        self.gates[key, kind] = ident = self.node(text, "gate")
        return self.connect(incoming, ident)

    def rejected(self, gate: str, on_reject: OnReject, retry: str | None = None) -> list[_Exit]:
        """Draw what a rejection at `gate` does: the edge to what comes next, if it skips."""
        if on_reject is OnReject.cancel:
            self.edge(_Exit(gate, "reject: cancel", True), "cancelled")
            return []
        if on_reject is OnReject.retry and retry is not None:
            self.edge(_Exit(gate, "reject: retry", True), retry)
            return [_Exit(gate, "reject, no try left: skip", True)]
        return [_Exit(gate, "reject: skip", True)]

    def after(self, key: str, policy: HumanReview, drawn: _Drawn) -> list[_Exit]:
        """Draw the review after a step, and the error review when it fails."""
        exits = drawn.exits
        if policy.reviews_iterations:
            gate = self.gate(key, RequestKind.review, policy, exits)
            exits = [_Exit(gate, "confirm"), *self.rejected(gate, policy.on_reject, drawn.entry)]
        if policy.on_error is OnError.pause:
            gate = self.gate(key, RequestKind.error, policy, [_Exit(drawn.whole, "fails", True)])
            self.edge(_Exit(gate, "retry", True), drawn.entry)
            exits = [*exits, _Exit(gate, "skip", True)]
        elif policy.on_error is OnError.skip:
            exits = [*exits, _Exit(drawn.whole, "fails: skip", True)]
        return exits

    def own(self, owner: str, ident: str) -> str:
        self.body.setdefault(owner, []).append(ident)
        return ident

    # Each kind of step: (node, key, incoming, owner, policy, to_else) -> _Drawn

    def _step(self, node: Any, key: str, incoming: list[_Exit], owner: str, *_: Any) -> _Drawn:
        ident = self.connect(incoming, self.own(owner, self.node(node.name, "step")))
        return _Drawn(ident, [_Exit(ident)], ident)

    def _loop(
        self, node: Any, key: str, incoming: list[_Exit], owner: str, policy: Any, _: Any
    ) -> _Drawn:
        top = node.max_iterations
        with self.box("Loop", node.name, f", up to {top} iteration{'s' * (top > 1)}") as box:
            entry, exits = self.sequence(node.steps, key, incoming, owner)
        if top > 1 and (policy is None or not policy.reviews_iterations):
            self.connect(
                [exit._replace(label="next iteration", dotted=True) for exit in exits], entry
            )
        return _Drawn(entry, exits, box)

    def _steps(self, node: Any, key: str, incoming: list[_Exit], owner: str, *_: Any) -> _Drawn:
        inner = None if owner == key else owner  # inside a Parallel: the Parallel's
        with self.box("Steps", node.name) as box:
            entry, exits = self.sequence(node.steps, key, incoming, inner)
        return _Drawn(entry, exits, box)

    def _condition(
        self, node: Any, key: str, incoming: list[_Exit], owner: str, policy: Any, to_else: Any
    ) -> _Drawn:
        with self.box("Condition", node.name) as box:
            if policy is not None and policy.requires_confirmation:  # the human decides
                branch, entry = [exit._replace(label="confirm: if") for exit in incoming], ""
            else:
                entry = self.own(owner, self.node(_called(node.evaluator, "evaluator"), "choice"))
                self.connect(incoming, entry)
                branch, to_else = [_Exit(entry, "if")], [_Exit(entry, "else"), *to_else]
            first, exits = self.sequence(node.steps, key, branch, None)
            if node.else_steps:
                exits += self.sequence(node.else_steps, key, to_else, None)[1]
            else:
                exits += to_else
        return _Drawn(entry or first, exits, box)

    def _router(
        self, node: Any, key: str, incoming: list[_Exit], owner: str, policy: Any, _: Any
    ) -> _Drawn:
        with self.box("Router", node.name) as box:
            skips: list[_Exit] = []
            if policy is not None and policy.requires_user_input:  # a human selects
                chooser = self.gate(key, RequestKind.route, policy, incoming)
                skips, label = self.rejected(chooser, policy.on_reject), "select"
            else:
                chooser = self.own(owner, self.node(_called(node.selector, "selector"), "choice"))
                self.connect(incoming, chooser)
                label = None
            exits: list[_Exit] = []
            for choice in node.choices:
                exits += self.element(choice, f"{key}/{choice.name}", [_Exit(chooser, label)], None)
        return _Drawn(chooser, exits, box, tuple(skips))

    def _parallel(self, node: Any, key: str, incoming: list[_Exit], owner: str, *_: Any) -> _Drawn:
        with self.box("Parallel", node.name) as box:
            fork = self.connect(incoming, self.own(owner, self.node("all at once", "fork")))
            exits: list[_Exit] = []
            for branch in node.steps:
                exits += self.element(branch, f"{key}/{branch.name}", [_Exit(fork)], owner)
        return _Drawn(fork, exits, box)


def _called(code: object, what: str) -> str:
    """A Condition's evaluator or a Router's selector, as its label."""
    if isinstance(code, bool):
        return str(code)
    name = getattr(code, "__name__", "")
    return f"{name}?" if name.isidentifier() else f"{what}?"


def flowchart(workflow: Drawable, run: RunRecord | None = None) -> str:
    """A Mermaid ``flowchart`` of `workflow`, and of where `run` stands, if given.

    Args:
        workflow: a `Workflow` (anything `Drawable`).
        run: a run of the workflow: its nodes are coloured by `CLASSES` (``visited``,
            ``skipped``, ``current``, ``failed``).

    Raises:
        InvalidArgument: the run belongs to another workflow.
        DefinitionChanged: the run stands at a step the workflow no longer has.
    """
    definition = workflow.definition
    if run is not None:
        definition.check(run)
    drawing = _Drawing(definition.policies)
    drawing.node(workflow.name, "end", "start")
    _, exits = drawing.sequence(workflow.steps, None, [_Exit("start")], None)
    drawing.connect(exits, drawing.node("end", "end", "finish"))
    painted = {} if run is None else _painted(drawing, definition, run)
    if "cancelled" in painted or any(edge.endswith(" cancelled") for edge in drawing.edges):
        drawing.node("cancelled", "end", "cancelled")
    lines = ["flowchart TD", *drawing.nodes, *drawing.edges]
    if painted:
        lines += [f"    classDef {name} {style}" for name, style in CLASSES.items()]
        for name in CLASSES:
            ids = [ident for ident in drawing.made if painted.get(ident) == name]
            if ids:
                lines.append(f"    class {','.join(ids)} {name}")
    return "\n".join(lines) + "\n"


def _painted(drawing: _Drawing, definition: _Definition, run: RunRecord) -> dict[str, str]:
    """The class of each node the run has reached, by node id."""
    painted = {"start": "visited"}

    def paint(ids: Sequence[str | None], name: str) -> None:
        painted.update((ident, name) for ident in ids if ident is not None)

    for result in run.results:
        paint(drawing.body.get(result.name, ()), "visited")
    for answer in run.answers:  # the requests answered
        asked = where_asked(answer.request_id)
        if asked is not None:
            paint([drawing.gates.get((asked.gate, asked.kind))], "visited")
    for gate in run.gates:
        if gate.state is State.done:
            paint(drawing.body.get(gate.name, ()), "visited")
        elif gate.state in (State.skipped, State.cancelled):
            paint(drawing.inside.get(gate.name, ()), "skipped")
    if run.status is RunStatus.completed:
        paint(["finish"], "current")
    elif run.status is RunStatus.cancelled:
        paint(["cancelled"], "current")
    elif run.cursor is not None:
        *around, key = definition.due(run)
        for each in around:  # the containers the run is in
            paint(drawing.body.get(each, ()), "visited")
        pending = run.pending_gate
        if pending is not None and pending.request is not None:
            kind = pending.request.kind
            shown = "failed" if kind is RequestKind.error else "visited"
            if kind in (RequestKind.review, RequestKind.error):
                paint(drawing.body.get(pending.name, ()), shown)
            at = drawing.gates.get((pending.name, kind), drawing.starts.get(pending.name))
            paint([at], "current")
        else:
            record = run.gate(key)
            started = record is not None and record.state is not State.pending
            where = drawing.body.get(key) if started else None
            shown = "failed" if run.status is RunStatus.failed else "current"
            paint(where or [drawing.starts.get(key)], shown)
    return painted
