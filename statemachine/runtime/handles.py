"""What callers hold of a run: `RunOutput` and `Session`.

A run output shows the run as it was read. Its requirements (`requirements`) record
decisions in the store at once, from any process; the output and its requirements share one
`RunView`, so that after a decision the output shows the run as the decision left it (and
`continue_run(run_output)` starts from there without reading the store again). What they
hand out are copies: changing them changes nothing stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from statemachine.core.errors import CorruptRun
from statemachine.core.events import JSON, json_copy
from statemachine.core.record import RequestKind, RunRecord, RunStatus
from statemachine.core.states import State
from statemachine.runtime.definitions import StepOutput
from statemachine.runtime.failures import ErrorRequirement
from statemachine.runtime.history import DecidedRequirement
from statemachine.runtime.requirements import RunView, StepRequirement

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow

__all__ = ["RunOutput", "Session", "WorkflowRunOutput"]


class RunOutput:
    """A workflow run as seen by its caller: status, content, results and pending requests.

    It reflects the run when it was read (or as the caller's own decisions left it);
    `Workflow.get_run` reads it again.
    """

    __slots__ = ("_view", "_workflow")

    def __init__(self, record: RunRecord, workflow: Workflow) -> None:
        self._view = RunView(record)
        self._workflow = workflow

    def __repr__(self) -> str:
        return (
            f"RunOutput(run_id={self.run_id!r}, status={self.status.value}, version={self.version})"
        )

    @property
    def record(self) -> RunRecord:
        """The stored snapshot this output shows."""
        return self._view.record

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def workflow_name(self) -> str:
        return self.record.workflow

    @property
    def session_id(self) -> str | None:
        """The session the run belongs to."""
        return self.record.session_id

    @property
    def status(self) -> RunStatus:
        return self.record.status

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def input(self) -> JSON:
        """The run's input (a copy: changing it changes nothing stored)."""
        return json_copy(self.record.input)

    @property
    def error(self) -> str | None:
        """The error of the failed step, when the status is failed."""
        return self.record.error

    @property
    def traceback(self) -> str | None:
        """The failed step's traceback (its last 8 KiB), when the status is failed."""
        return self.record.traceback

    @property
    def is_paused(self) -> bool:
        return self.record.status is RunStatus.paused

    @property
    def content(self) -> JSON:
        """The content of the last step that produced one (skipped steps produce none)."""
        results = self.record.results
        return json_copy(results[-1].content) if results else None

    @property
    def user_id(self) -> str | None:
        """Who the run is for, as its starter said."""
        return self.record.user_id

    @property
    def step_results(self) -> list[StepOutput]:
        """The output of every finished step, loop and container, in the order they
        finished (a human's edit in place of the output it replaced)."""
        workflow = self._workflow
        return [
            StepOutput(content=json_copy(r.content), step_name=workflow.definition.name_of(r.name))
            for r in self.record.results
        ]

    def get_step_content(self, name: str) -> JSON:
        """The content the step called `name` (or at that key) finished with, if it did."""
        for result in reversed(self.record.results):
            if result.name == name or self._workflow.definition.name_of(result.name) == name:
                return json_copy(result.content)
        return None

    @property
    def states(self) -> dict[str, State]:
        """Every gate of the workflow by key (each loop, container and reviewed step), with
        its state."""
        stored = {gate.name: gate.state for gate in self.record.gates}
        return {name: stored.get(name, State.pending) for name in self._workflow.gated}

    @property
    def paused_step_name(self) -> str | None:
        """The name of the step (or loop, or container) waiting for a human."""
        gate = self.record.pending_gate
        return None if gate is None else self._workflow.definition.name_of(gate.name)

    @property
    def paused_step_index(self) -> int | None:
        """The position among the workflow's steps of the top-level step the run is in,
        while it is paused."""
        cursor = self.record.cursor
        if not self.is_paused or cursor is None:
            return None
        return self._workflow.definition.index.get(cursor)

    @property
    def requirements(self) -> list[StepRequirement]:
        """The pending requests: at most one, since a run pauses at one gate at a time. A
        failed step's is an `ErrorRequirement`."""
        gate = self.record.pending_gate
        if gate is None or gate.request is None or not self.is_paused:
            return []
        kind = ErrorRequirement if gate.request.kind is RequestKind.error else StepRequirement
        return [kind(self._view, self._workflow, gate)]

    active_step_requirements = requirements

    def _asking(self, kind: RequestKind) -> list[StepRequirement]:
        return [r for r in self.requirements if r.kind is kind]

    @property
    def steps_requiring_confirmation(self) -> list[StepRequirement]:
        return self._asking(RequestKind.confirmation)

    @property
    def steps_requiring_output_review(self) -> list[StepRequirement]:
        """Review requests, of a loop iteration or of a step's output alike."""
        return self._asking(RequestKind.review)

    @property
    def steps_requiring_user_input(self) -> list[StepRequirement]:
        return self._asking(RequestKind.input)

    @property
    def steps_requiring_route(self) -> list[StepRequirement]:
        return self._asking(RequestKind.route)

    @property
    def steps_with_errors(self) -> list[ErrorRequirement]:
        """Failed steps waiting for `retry()` or `skip()` (``on_error="pause"``)."""
        return [r for r in self.requirements if isinstance(r, ErrorRequirement)]

    active_error_requirements = steps_with_errors

    @property
    def decided_requirements(self) -> list[DecidedRequirement]:
        """Every request of the run that was answered, in order: what was decided, by
        whom, when (timeouts and cancellations too)."""
        run, workflow = self.record, self._workflow
        return [DecidedRequirement.of(answer, run, workflow) for answer in run.answers]

    @property
    def step_requirements(self) -> list[DecidedRequirement | StepRequirement]:
        """The answered requests, then the pending one: the peer framework's history."""
        return [*self.decided_requirements, *self.requirements]


WorkflowRunOutput = RunOutput
"""The peer framework's name for a run output."""


@attrs.frozen
class Session:
    """The runs of one session of a workflow, in the order they were created.

    Attributes:
        session_id: the session.
        unreadable: runs of the store that could not be read (a `CorruptRun` each): left out
            of `runs`, never the reason the others are not listed.
    """

    workflow_name: str
    runs: list[RunOutput]
    unreadable: list[CorruptRun] = attrs.field(factory=list)
    session_id: str | None = None
