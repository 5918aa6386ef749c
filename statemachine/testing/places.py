"""What the workflow explorer's graph is made of: places a run can stand at, the moves between
them, and paths of moves from the start.

A place keeps what decides where a run can go next: its status and, for every gate that is not
finished, its state, iteration, what it asks, and for a container its branch and position.
Content, feedback texts and finished gates are left out: they flow through a run without
changing its course (user code that reads them is a source of outcomes, which moves carry).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from statemachine.core.events import JSON
from statemachine.core.record import RunRecord, RunStatus

__all__ = ["GateAt", "Move", "Path", "Place", "place_of"]


@attrs.frozen(order=True)
class GateAt:
    """A gate that is not finished, as a place keeps it."""

    key: str
    state: str
    iteration: int
    asked: str = ""
    position: int = 0
    choice: tuple[str, ...] = ()

    def __str__(self) -> str:
        asked = f"[{self.asked}]" if self.asked else ""
        inside = f" {'/'.join(self.choice) or '-'}#{self.position}" if self.choice else ""
        return f"{self.key}: {self.state}{asked}@{self.iteration}{inside}"


@attrs.frozen(order=True)
class Place:
    """Where a run stands: its status, the step it stands at (the pending gate when paused,
    the top-level step when it failed, none when it ended), and its unfinished gates."""

    status: str
    at: str | None = None
    gates: tuple[GateAt, ...] = ()

    @property
    def finished(self) -> bool:
        """The run ended: completed, cancelled or failed."""
        return self.status in ("completed", "cancelled", "failed")

    def __str__(self) -> str:
        at = f" at {self.at}" if self.at else ""
        gates = "; ".join(str(gate) for gate in self.gates)
        return f"{self.status}{at}" + (f" ({gates})" if gates else "")


def place_of(run: RunRecord) -> Place:
    """The place `run` stands at."""
    if run.status in (RunStatus.completed, RunStatus.cancelled):
        return Place(run.status.value)
    if run.status is RunStatus.paused:
        pending = run.pending_gate
        at = None if pending is None else pending.name
    else:  # where it stands: a failure inside a container shows in its gate's position
        at = run.cursor
    gates = tuple(
        sorted(
            GateAt(
                gate.name,
                gate.state.value,
                gate.iteration,
                "" if gate.request is None else gate.request.kind.value,
                gate.position,
                gate.choice,
            )
            for gate in run.gates
            if not gate.state.is_terminal
        )
    )
    return Place(run.status.value, at, gates)


@attrs.frozen
class Move:
    """One step of a path: what a person (or the clock) did, then what user code did until the
    run stood still again.

    Attributes:
        decision: ``start``, a decision (``confirm``, ``reject``, ``provide``, ``select``,
            ``edit``, ``retry``, ``skip``), or ``timeout`` (the clock passed the deadline).
        outcomes: what user code did, in order: ``ok`` or ``fail`` for each call of a step's
            code, ``continue``/``stop`` for a loop's `should_continue`, ``if``/``else`` for a
            condition's evaluator, ``route:a,b`` for a router's selector, ``review``/``pass``
            for a review predicate.
        feedback: a rejection's feedback.
        value: what a ``provide``, ``select`` or ``edit`` carries.
    """

    decision: str
    outcomes: tuple[str, ...] = ()
    feedback: str | None = None
    value: JSON = None

    def __str__(self) -> str:
        carried = self.feedback if self.feedback is not None else self.value
        said = "" if carried is None else f"({carried!r})"
        done = f" [{', '.join(self.outcomes)}]" if self.outcomes else ""
        return f"{self.decision}{said}{done}"


@attrs.frozen
class Path:
    """Moves from the start, and the place the run stands at after each."""

    moves: tuple[Move, ...]
    places: tuple[Place, ...]

    @property
    def target(self) -> Place:
        """Where the path ends."""
        return self.places[-1]

    def __iter__(self) -> Iterator[tuple[Move, Place]]:
        return iter(zip(self.moves, self.places, strict=True))

    def __len__(self) -> int:
        return len(self.moves)

    def __str__(self) -> str:
        return " -> ".join(str(move) for move in self.moves) + f"  =>  {self.target}"
