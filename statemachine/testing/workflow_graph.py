"""`explore_workflow`: every place a whole workflow's runs can reach, every move between them,
and the problems a definition can hide.

A breadth-first walk from the start, on the explorer's model (`model`): at each pause it tries
every decision a person can make (confirm, reject with and without feedback, provide fitting
values, each route, edit, retry, skip) and the timeout; after each, every combination of
what user code can do (a call works or fails, a loop goes on or stops, each branch, each
route, a review predicate's answer) until the run stands still again. Places
(`places.Place`) are what decides the future, so the walk ends; paths to them are the test
scripts `shortest_paths` and `simple_paths` give, and `run_path` plays one on the real runtime.
A cancel is always possible and leads nowhere new: it is not explored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from statemachine.core.decisions import Verdict, decide
from statemachine.core.errors import ExplorationFailed, StateMachineError
from statemachine.core.events import JSON
from statemachine.core.record import Gate, RunRecord, RunStatus
from statemachine.core.runs import expire
from statemachine.runtime.containers import Condition, Router
from statemachine.testing.explore import fitting
from statemachine.testing.model import Model
from statemachine.testing.places import Move, Path, Place, place_of

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow

__all__ = ["FEEDBACK", "WorkflowEdge", "WorkflowExploration", "explore_workflow"]

EPOCH = datetime(2030, 1, 1, tzinfo=UTC)
FEEDBACK = "needs more work"
"""The feedback of an explored rejection that gives some."""
EDITED = "edited by a person"


@attrs.frozen
class WorkflowEdge:
    """`move` took a run from `source` (None: not started) to `target`."""

    source: Place | None
    move: Move
    target: Place


class _Fork(Exception):
    def __init__(self, options: tuple[str, ...]) -> None:
        self.options = options


@attrs.frozen
class WorkflowExploration:
    """What `explore_workflow` found: the places, the moves between them, and the problems
    (empty when all is well). `bounded` are places not explored further (past
    `max_iterations`)."""

    workflow: str
    places: tuple[Place, ...]
    edges: tuple[WorkflowEdge, ...]
    problems: tuple[str, ...]
    bounded: frozenset[Place] = frozenset()

    def check(self) -> None:
        """Raise `ExplorationFailed`, listing every problem, unless there is none."""
        if self.problems:
            raise ExplorationFailed(self, self.problems)

    def shortest_paths(self) -> dict[Place, Path]:
        """For each place, a shortest path from the start that reaches it."""
        found: dict[Place, Path] = {}
        queue: deque[Path] = deque()
        for edge in self.edges:
            if edge.source is None and edge.target not in found:
                found[edge.target] = Path((edge.move,), (edge.target,))
                queue.append(found[edge.target])
        leaving = self._leaving()
        while queue:
            path = queue.popleft()
            for edge in leaving.get(path.target, ()):
                if edge.target not in found:
                    found[edge.target] = Path((*path.moves, edge.move), (*path.places, edge.target))
                    queue.append(found[edge.target])
        return found

    def simple_paths(self, limit: int = 1000) -> list[Path]:
        """Paths from the start to a place where the run ended, none visiting a place twice:
        every way through the workflow, up to `limit` of them (shortest first)."""
        leaving = self._leaving()
        paths: list[Path] = []

        def walk(path: Path) -> Iterator[Path]:
            if path.target.finished:
                yield path
                return
            for edge in leaving.get(path.target, ()):
                if edge.target not in path.places:
                    yield from walk(Path((*path.moves, edge.move), (*path.places, edge.target)))

        for edge in self.edges:
            if edge.source is None:
                for path in walk(Path((edge.move,), (edge.target,))):
                    paths.append(path)
                    if len(paths) >= limit:
                        return sorted(paths, key=len)
        return sorted(paths, key=len)

    def _leaving(self) -> dict[Place, list[WorkflowEdge]]:
        leaving: dict[Place, list[WorkflowEdge]] = {}
        for edge in self.edges:
            if edge.source is not None:
                leaving.setdefault(edge.source, []).append(edge)
        return leaving


def explore_workflow(
    workflow: Workflow, *, max_iterations: int | None = None, input: JSON = None
) -> WorkflowExploration:
    """Walk every place `workflow`'s runs can reach, and check that:

    - from every pause, some decisions lead to the end (cancelling aside);
    - every step is reached on some path, and every branch and route is taken on some path;
    - every run the walk starts stands still at a pause or ends (completed, cancelled or
      failed), without an untyped error;
    - no gate counts an iteration past its maximum.

    Args:
        max_iterations: explore no place where a gate is past this iteration (for loops too
            long to walk whole); None: the workflow's own maxima.
        input: the runs' input (the model never reads it).
    """
    definition = workflow.definition
    model = Model(definition)
    problems: list[str] = []
    records: dict[Place, tuple[RunRecord, datetime]] = {}
    edges: list[WorkflowEdge] = []
    bounded: set[Place] = set()
    queue: deque[Place] = deque()
    start = workflow._new_run(input, "explored", None, None, EPOCH)

    def reach(source: Place | None, move: Move, before: RunRecord, now: datetime) -> None:
        for outcomes, run in _settled(model, before, now, problems, str(source or "start")):
            place = place_of(run)
            edges.append(WorkflowEdge(source, attrs.evolve(move, outcomes=outcomes), place))
            problems.extend(_counted(run, place))
            if place in records:
                continue
            records[place] = (run, now)
            if run.status is RunStatus.paused and run.pending_gate is None:
                problems.append(f"{place}: paused with nothing asked")
            elif run.status in (RunStatus.pending, RunStatus.running):
                problems.append(f"{place}: stood still while {run.status.value}")
            elif max_iterations is not None and any(
                gate.iteration > max_iterations for gate in place.gates
            ):
                bounded.add(place)
            elif run.status is RunStatus.paused:
                queue.append(place)

    reach(None, Move("start"), start, EPOCH)
    while queue:
        place = queue.popleft()
        run, now = records[place]
        gate = run.pending_gate
        assert gate is not None
        for move in _decisions(gate):
            try:
                decided = decide(
                    run, None, Verdict(move.decision), feedback=move.feedback, value=move.value,
                    decision_id=f"explored-{run.version}-{move}", now=now,
                )  # fmt: skip
            except StateMachineError:
                continue  # a decision that does not answer this request
            reach(place, move, decided.run, now)
        if gate.deadline is not None:
            later = gate.deadline + timedelta(seconds=1)
            expired = expire(run, later)
            assert expired is not None
            reach(place, Move("timeout"), expired, later)
    problems.extend(_stuck(records, edges, bounded))
    problems.extend(_unreached(workflow, model))
    return WorkflowExploration(
        workflow.name, tuple(sorted(records)), tuple(edges), tuple(problems), frozenset(bounded)
    )


def _decisions(gate: Gate) -> Iterator[Move]:
    """Every decision a person can make, tried at each pause (the core refuses those that do
    not answer the request)."""
    yield Move("confirm")
    yield Move("reject")
    yield Move("reject", feedback=FEEDBACK)
    yield Move("provide", value=fitting(gate.policy.user_input_schema))
    for route in gate.choices:
        yield Move("select", value=[route])
    if gate.multiple and len(gate.choices) > 1:
        yield Move("select", value=list(gate.choices))
    yield Move("edit", value=EDITED)
    yield Move("retry")
    yield Move("skip")


def _settled(
    model: Model, run: RunRecord, now: datetime, problems: list[str], where: str
) -> Iterator[tuple[tuple[str, ...], RunRecord]]:
    """Each way user code can take `run` until it stands still: the outcomes, and the run."""
    scripts: list[tuple[str, ...]] = [()]
    while scripts:
        script = scripts.pop()
        taken: list[str] = []

        def choose(
            options: tuple[str, ...], script: tuple[str, ...] = script, taken: list[str] = taken
        ) -> str:
            if len(taken) < len(script):
                pick = script[len(taken)]
            elif len(options) == 1:
                pick = options[0]
            else:
                raise _Fork(options)
            taken.append(pick)
            return pick

        try:
            settled = model.settle(run, now, choose)
        except _Fork as fork:
            scripts.extend((*taken, option) for option in reversed(fork.options))
            continue
        except StateMachineError as exc:
            problems.append(f"from {where}: {type(exc).__name__}: {exc}")
            continue
        except Exception as exc:  # what the explorer exists to report
            problems.append(f"from {where}: untyped {type(exc).__name__}: {exc}")
            continue
        yield tuple(taken), settled


def _counted(run: RunRecord, place: Place) -> Iterator[str]:
    for gate in run.gates:
        if gate.iteration > gate.max_iterations:
            yield f"{place}: {gate.name} at iteration {gate.iteration} of {gate.max_iterations}"


def _stuck(
    records: dict[Place, tuple[RunRecord, datetime]],
    edges: list[WorkflowEdge],
    bounded: set[Place],
) -> Iterator[str]:
    """Pauses from which no decision leads to an end."""
    ends = {place for place in records if place.finished} | bounded
    grew = True
    while grew:
        grew = False
        for edge in edges:
            if edge.source is not None and edge.target in ends and edge.source not in ends:
                ends.add(edge.source)
                grew = True
    for place in sorted(records):
        if place not in ends:
            yield f"{place}: a pause with no way out (only cancelling ends it)"


def _unreached(workflow: Workflow, model: Model) -> Iterator[str]:
    definition = workflow.definition
    for key in definition.nodes:
        if key not in model.visited:
            yield f"step {key!r}: no path reaches it"
    for key, node in definition.nodes.items():
        branches: tuple[str, ...] = ()
        if isinstance(node, Condition):
            branches = ("if",) * bool(node.steps) + ("else",) * bool(node.else_steps)
        elif isinstance(node, Router):
            branches = tuple(choice.name for choice in node.choices)
        for branch in branches:
            if (key, branch) not in model.chosen:
                what = (
                    f"its {branch} branch" if isinstance(node, Condition) else f"route {branch!r}"
                )
                yield f"{type(node).__name__} {key!r}: {what} is never taken"
