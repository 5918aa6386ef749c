"""`WorkflowMachine`: a Hypothesis `RuleBasedStateMachine` that holds a workflow's runtime, on
a real store, to the explorer's model.

Copy it, or subclass it with your workflow and store::

    from statemachine.testing import WorkflowMachine

    class ReviewLoopMachine(WorkflowMachine):
        workflow = review_loop            # your Workflow
        def make_store(self):
            return SqliteStore(self.directory / "runs.db")

    TestReviewLoop = ReviewLoopMachine.TestCase

Each rule plays one move the exploration found open where the run stands (a decision or the
timeout, then what user code does), on the real runtime with the workflow's code scripted
(`run_path`'s way), and checks that the stored run stands where the model says. A run that
ended is started again, so long programs cover many runs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from statemachine.core.errors import PathDiverged
from statemachine.store.memory import MemoryStore
from statemachine.testing.harness import Harness
from statemachine.testing.history import check_history
from statemachine.testing.paths import _play, _Script, scripted
from statemachine.testing.places import Place, place_of
from statemachine.testing.workflow_graph import WorkflowEdge, WorkflowExploration, explore_workflow

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow
    from statemachine.store.protocol import Store

__all__ = ["WorkflowMachine"]


class WorkflowMachine(RuleBasedStateMachine):
    """Set `workflow` (a class attribute); override `make_store` for a store other than a new
    `MemoryStore` (`self.directory` is a fresh temporary directory for it)."""

    workflow: ClassVar[Workflow]
    _explored: ClassVar[dict[str, WorkflowExploration]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.directory = FilePath(tempfile.mkdtemp(prefix="workflow-machine-"))
        self.store = self.make_store()
        key = f"{type(self).__qualname__}:{self.workflow.fingerprint}"
        if key not in self._explored:
            self._explored[key] = explore_workflow(self.workflow)
        exploration = self._explored[key]
        self.leaving: dict[Place | None, list[WorkflowEdge]] = {}
        for edge in exploration.edges:
            self.leaving.setdefault(edge.source, []).append(edge)
        self.script = _Script()
        self.harness = Harness(scripted(self.workflow, self.script), self.store)
        self.place: Place | None = None  # not started
        self.moves: list[str] = []

    def make_store(self) -> Store:
        """The store the runs are played on."""
        return MemoryStore()

    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        """Play one of the moves open where the run stands (the start, once it ended)."""
        source = None if self.place is None or self.place.finished else self.place
        edges = self.leaving.get(source, [])
        if not edges:  # a place the exploration did not expand (bounded): start again
            edges, source = self.leaving[None], None
        edge = data.draw(st.sampled_from(edges), label="move")
        self.script.outcomes.extend(edge.move.outcomes)
        _play(self.harness, edge.move.decision, edge.move.feedback, edge.move.value, None)
        self.moves.append(str(edge.move))
        actual = place_of(self.store.load(self.harness.output.run_id))
        if self.script.wrong or self.script.outcomes or actual != edge.target:
            raise PathDiverged(
                len(self.moves) - 1, " -> ".join(self.moves), str(edge.target),
                f"{actual}; {'; '.join(self.script.wrong)}",
            )  # fmt: skip
        self.place = actual

    @invariant()
    def history_checks(self) -> None:
        """Every stored run's history is one the machine could have produced."""
        if self.place is not None:
            check_history(self.store.load(self.harness.output.run_id), self.harness.workflow)

    def teardown(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()
        shutil.rmtree(self.directory, ignore_errors=True)
