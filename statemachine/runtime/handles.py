"""What callers hold of a run: `RunOutput`, its `StepRequirement`s, and `Session`.

A run output shows the run as it was read. Its requirements record decisions in the store at
once, from any process; the output and its requirements share one `RunView`, so that after a
decision the output shows the run as the decision left it (and `continue_run(run_output)`
starts from there without reading the store again). What they hand out are copies: changing
them changes nothing stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from statemachine.core.actions import RequestReview
from statemachine.core.decisions import Verdict
from statemachine.core.errors import CorruptRun
from statemachine.core.events import JSON, json_copy
from statemachine.core.machine import action_of
from statemachine.core.record import Gate, RequestKind, RunRecord, RunStatus
from statemachine.core.states import State
from statemachine.runtime.definitions import StepOutput
from statemachine.store.values import new_id

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow

__all__ = ["RunOutput", "RunView", "Session", "StepRequirement"]


@attrs.define
class RunView:
    """The run as last seen by a caller: shared by a run output and its requirements."""

    record: RunRecord


class StepRequirement:
    """A pending question of a paused run: confirm it or reject it, from any process.

    `confirm()` and `reject()` (or `aconfirm()` and `areject()` under asyncio) record the
    decision in the store immediately; then `Workflow.continue_run` executes what it made
    runnable. Calling the same method again on the same requirement answers as the first
    call did (the decision id is the same: the store sees a duplicate).
    """

    __slots__ = ("_decisions", "_view", "_workflow", "deadline", "iteration", "kind", "message",
                 "request_id", "step_name", "step_output")  # fmt: skip

    def __init__(self, view: RunView, workflow: Workflow, gate: Gate) -> None:
        action = action_of(gate)
        assert gate.request is not None
        request = gate.request
        self._view = view
        self._workflow = workflow
        self._decisions: dict[Verdict, str] = {}  # a decision id per verdict, made on first use
        self.step_name = gate.name
        self.request_id = request.request_id
        self.kind = request.kind
        self.message = request.message
        self.deadline = request.deadline
        self.iteration = gate.iteration
        # A confirmation has no output yet: its step_output has None content.
        content = json_copy(action.output) if isinstance(action, RequestReview) else None
        self.step_output = StepOutput(content=content, step_name=gate.name)

    def __repr__(self) -> str:
        return (
            f"StepRequirement(step_name={self.step_name!r}, kind={self.kind.value}, "
            f"request_id={self.request_id!r}, deadline={self.deadline!r})"
        )

    @property
    def confirmation_message(self) -> str | None:
        """The message of a start confirmation."""
        return self.message if self.kind is RequestKind.confirmation else None

    @property
    def iteration_review_message(self) -> str | None:
        """The message of a review (of a loop iteration or a step's output)."""
        return self.message if self.kind is RequestKind.review else None

    output_review_message = iteration_review_message

    @property
    def requires_confirmation(self) -> bool:
        """Whether this asks to start the step or loop."""
        return self.kind is RequestKind.confirmation

    @property
    def requires_output_review(self) -> bool:
        """Whether this asks to accept an output."""
        return self.kind is RequestKind.review

    def confirm(self) -> None:
        """Accept: start the loop (or step), or keep the output under review.

        Raises:
            DeadlinePassed: recorded after the deadline; the timeout action was applied.
            StaleRequest: the request is no longer pending (decided elsewhere, cancelled).
            DecisionConflict: this requirement was rejected already.
        """
        self._decide(Verdict.confirm, None)

    def reject(self, feedback: str | None = None) -> None:
        """Reject, optionally with feedback for the next iteration (`on_reject` applies).

        Raises:
            DeadlinePassed: recorded after the deadline; the timeout action was applied.
            StaleRequest: the request is no longer pending (decided elsewhere, cancelled).
            DecisionConflict: this requirement was confirmed already.
        """
        self._decide(Verdict.reject, feedback)

    async def aconfirm(self) -> None:
        """`confirm`, with the store's I/O awaited."""
        await self._adecide(Verdict.confirm, None)

    async def areject(self, feedback: str | None = None) -> None:
        """`reject`, with the store's I/O awaited."""
        await self._adecide(Verdict.reject, feedback)

    def _decide(self, verdict: Verdict, feedback: str | None) -> None:
        workflow = self._workflow
        self._view.record = workflow.store.decide(
            self._view.record.run_id,
            self.request_id,
            verdict,
            feedback,
            decision_id=self._decision_id(verdict),
            now=workflow.own_time(),
            seen=self._view.record,
        ).run

    async def _adecide(self, verdict: Verdict, feedback: str | None) -> None:
        workflow = self._workflow
        result = await workflow.store.adecide(
            self._view.record.run_id,
            self.request_id,
            verdict,
            feedback,
            decision_id=self._decision_id(verdict),
            now=workflow.own_time(),
            seen=self._view.record,
        )
        self._view.record = result.run

    def _decision_id(self, verdict: Verdict) -> str:
        found = self._decisions.get(verdict)
        if found is None:
            found = self._decisions[verdict] = new_id()
        return found


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
    def is_paused(self) -> bool:
        return self.record.status is RunStatus.paused

    @property
    def content(self) -> JSON:
        """The content of the last step that produced one (skipped steps produce none)."""
        results = self.record.results
        return json_copy(results[-1].content) if results else None

    @property
    def step_results(self) -> list[StepOutput]:
        """The output of every finished step and loop, in the order they finished."""
        return [
            StepOutput(content=json_copy(r.content), step_name=r.name) for r in self.record.results
        ]

    @property
    def states(self) -> dict[str, State]:
        """Every gate of the workflow by name (each loop, each reviewed step), with its state."""
        stored = {gate.name: gate.state for gate in self.record.gates}
        return {name: stored.get(name, State.pending) for name in self._workflow.gated}

    @property
    def requirements(self) -> list[StepRequirement]:
        """The pending requests: at most one, since a run pauses at one gate at a time."""
        gate = self.record.pending_gate
        if gate is None or not self.is_paused:
            return []
        return [StepRequirement(self._view, self._workflow, gate)]

    @property
    def steps_requiring_confirmation(self) -> list[StepRequirement]:
        return [r for r in self.requirements if r.kind is RequestKind.confirmation]

    @property
    def steps_requiring_output_review(self) -> list[StepRequirement]:
        """Review requests, of a loop iteration or of a step's output alike."""
        return [r for r in self.requirements if r.kind is RequestKind.review]


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
