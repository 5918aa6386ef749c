"""What a paused run asks, as its caller handles it: `StepRequirement` (and, for a failed
step, `ErrorRequirement` in `failures`).

A requirement records its decision in the store at once, from any process, and the run
output it came from shows the run as the decision left it: `continue_run(run_output)` then
executes from there. The peer framework's spellings work (`confirm`, `reject`,
`set_user_input`, `select`, `edit`, `retry`, `skip`), each with an awaited twin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from statemachine.core.actions import RequestReview
from statemachine.core.decisions import Verdict
from statemachine.core.errors import InvalidArgument
from statemachine.core.events import JSON, json_copy
from statemachine.core.machine import action_of, where_asked
from statemachine.core.policy import OnReject, UserInputField
from statemachine.core.record import Asking, Gate, RequestKind, RunRecord
from statemachine.core.refusals import ActorRefused
from statemachine.runtime.definitions import StepOutput
from statemachine.store.values import new_id

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow

__all__ = ["RunView", "StepRequirement", "message_of", "retries"]


@attrs.define
class RunView:
    """The run as last seen by a caller: shared by a run output and its requirements."""

    record: RunRecord


def message_of(gate: Gate, kind_name: str, name: str) -> str | None:
    """What a pause says to the human: the policy's message, else the peer framework's
    default for its kind."""
    request = gate.request
    assert request is not None
    if request.message is not None:
        return request.message
    kind = request.kind
    if kind is RequestKind.route:
        return f"Select a route from: {', '.join(gate.choices)}"
    if kind is RequestKind.review:
        return f"Review output of step '{name}'?"
    if kind is RequestKind.input:
        return f"Step '{name}' needs your input"
    if kind is RequestKind.confirmation:
        return _CONFIRMATIONS.get(kind_name, "Execute step '{}'?").format(name)
    return None


_CONFIRMATIONS = {
    "Condition": "Execute condition '{}'? (yes=if branch, no=else branch)",
    "Router": "Execute router '{}' with selected steps?",
    "Steps": "Execute steps pipeline '{}'?",
    "Loop": "Execute loop '{}'?",
}


class StepRequirement(Asking):
    """A pending question of a paused run, answered from any process.

    What it asks is its `kind`: a confirmation (`confirm()` or `reject()`), user input
    (`set_user_input(**values)`), a route (`select(...)`), or a review of an output
    (`confirm()`, `reject(feedback)`, or `edit(new_output)`). Each method records the
    decision in the store at once; calling it again answers as the first call did (the same
    decision id: the store sees a duplicate). Then `Workflow.continue_run` executes what the
    decision made runnable.
    """

    __slots__ = ("_decisions", "_gate", "_on_reject", "_view", "_workflow", "confirmed",
                 "deadline", "edited_output", "iteration", "kind", "message", "rejection_feedback",
                 "request_id", "selected_choices", "step_name", "step_output", "step_path",
                 "step_type", "user_input")  # fmt: skip

    def __init__(self, view: RunView, workflow: Workflow, gate: Gate) -> None:
        assert gate.request is not None
        request = gate.request
        self._view, self._workflow, self._gate = view, workflow, gate
        self._decisions: dict[Verdict, str] = {}  # a decision id per verdict, made on first use
        self._on_reject: OnReject | None = None
        self.step_path = gate.name
        definition = workflow.definition
        self.step_name = definition.name_of(gate.name)
        self.step_type = definition.kind_name(gate.name)
        self.request_id = request.request_id
        self.kind = request.kind
        self.message = message_of(gate, self.step_type, self.step_name)
        self.deadline = request.deadline
        self.iteration = gate.iteration
        action = action_of(gate)
        # A confirmation has no output yet: its step_output has None content.
        content = json_copy(action.output) if isinstance(action, RequestReview) else None
        inner = None
        if content is not None and gate.members:  # a container: what its steps produced
            members = set(gate.members)
            inner = [
                StepOutput(content=json_copy(r.content), step_name=definition.name_of(r.name))
                for r in view.record.results
                if r.name in members
            ]
        self.step_output = StepOutput(content=content, step_name=self.step_name, steps=inner)
        self.confirmed: bool | None = None
        """True once confirmed (or edited), False once rejected, None while undecided."""
        self.rejection_feedback: str | None = None
        self.user_input: dict[str, JSON] | None = None
        self.selected_choices: list[str] | None = None
        self.edited_output: JSON = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(step_name={self.step_name!r}, kind={self.kind.value}, "
            f"request_id={self.request_id!r}, deadline={self.deadline!r})"
        )

    # What is asked

    @property
    def is_post_execution(self) -> bool:
        """Whether the step ran already (a review, or a failure)."""
        return self.kind is RequestKind.review or self.kind is RequestKind.error

    @property
    def confirmation_message(self) -> str | None:
        """The message of a confirmation (and of a review, as the peer framework has it)."""
        if self.kind is RequestKind.confirmation or self.kind is RequestKind.review:
            return self.message
        return None

    @property
    def output_review_message(self) -> str | None:
        """The message of a review (of a loop iteration or a step's output)."""
        return self.message if self.kind is RequestKind.review else None

    iteration_review_message = output_review_message

    @property
    def user_input_message(self) -> str | None:
        """The message of a request for values or for a route."""
        if self.kind is RequestKind.input or self.kind is RequestKind.route:
            return self.message
        return None

    @property
    def user_input_schema(self) -> list[UserInputField] | None:
        """The fields asked for (None when any values are accepted, or none are asked)."""
        if self.kind is not RequestKind.input:
            return None
        return list(self._gate.policy.user_input_schema) or None

    @property
    def available_choices(self) -> list[str] | None:
        """A Router's routes, by name (None for other steps)."""
        return list(self._gate.choices) or None

    @property
    def allow_multiple_selections(self) -> bool:
        """Whether several routes may be selected, to run one after the other."""
        return self._gate.multiple

    @property
    def retry_count(self) -> int:
        """How many times the step was run again after a rejection (or a failure)."""
        if self.kind is RequestKind.error:
            return retries(self._view.record, self.request_id)
        if self.kind is RequestKind.route:  # asked again after each rejected route
            return self._gate.iteration
        return max(self._gate.iteration - 1, 0)

    @property
    def max_retries(self) -> int:
        """How many times a rejected output may be produced again (`hitl_max_retries`)."""
        return self._gate.policy.max_retries

    @property
    def on_reject(self) -> OnReject:
        """What a rejection does. Set it to ``"cancel"`` to make a rejection cancel the run
        instead (after `reject()`, too: the run is cancelled then)."""
        return self._on_reject or self._gate.policy.on_reject

    @on_reject.setter
    def on_reject(self, value: OnReject | str) -> None:
        try:
            chosen = OnReject(value)
        except ValueError:
            raise InvalidArgument(
                f"on_reject must be one of {list(OnReject)}, not {value!r}"
            ) from None
        if chosen is self._gate.policy.on_reject:
            self._on_reject = None
            return
        if chosen is not OnReject.cancel:
            raise InvalidArgument(
                f"on_reject of {self.step_name!r} is {self._gate.policy.on_reject.value!r}; "
                "at decision time it can only be made 'cancel'"
            )
        self._on_reject = chosen
        if self.confirmed is False:
            self._cancel()

    @property
    def needs_confirmation(self) -> bool:
        return self.confirmed is None and self.kind is RequestKind.confirmation

    @property
    def needs_output_review(self) -> bool:
        return self.confirmed is None and self.kind is RequestKind.review

    @property
    def needs_user_input(self) -> bool:
        return self.user_input is None and self.kind is RequestKind.input

    @property
    def needs_route_selection(self) -> bool:
        return self.selected_choices is None and self.kind is RequestKind.route

    @property
    def is_resolved(self) -> bool:
        """Whether this requirement was answered through this object."""
        return bool(self._decisions)

    def get_user_input(self, field_name: str) -> JSON:
        """A value given with `set_user_input` (None if none was)."""
        return None if self.user_input is None else self.user_input.get(field_name)

    # Deciding

    def confirm(self) -> None:
        """Accept: start the step (or loop, or container), or keep the output under review.

        Raises:
            DeadlinePassed: recorded after the deadline; the timeout action was applied.
            StaleRequest: the request is no longer pending (decided elsewhere, cancelled).
            DecisionConflict: this requirement was decided otherwise already.
            WrongDecision: the request asks for something else (values, a route).
        """
        self._decide(Verdict.confirm)
        self.confirmed = True

    def reject(self, feedback: str | None = None) -> None:
        """Reject, optionally with feedback for the next iteration (`on_reject` applies).
        It raises as `confirm` does."""
        if self._on_reject is OnReject.cancel:
            self._cancel()
        else:
            self._decide(Verdict.reject, feedback)
        self.confirmed, self.rejection_feedback = False, feedback

    def set_user_input(self, **values: JSON) -> None:
        """Give the values asked for, all in one call: they are checked against the schema
        and recorded at once.

        Raises:
            InvalidInput: a required value is missing, or one has the wrong type or is not
                among the allowed values (every problem is listed); nothing was recorded.
            WrongDecision: the request does not ask for values.
        """
        self._decide(Verdict.provide, value=dict(values))
        self.user_input = dict(values)

    def select(self, *choices: str) -> None:
        """Take the routes named (one, unless the Router allows several, run in the order
        given).

        Raises:
            InvalidSelection: a name is not a route of the Router, or several were given
                where one is allowed; nothing was recorded.
        """
        self._decide(Verdict.select, value=list(choices))
        self.selected_choices = list(choices)

    def select_single(self, choice: str) -> None:
        """`select` one route."""
        self.select(choice)

    def select_multiple(self, choices: list[str]) -> None:
        """`select` several routes, run one after the other."""
        self.select(*choices)

    def edit(self, new_output: JSON) -> None:
        """Accept the output under review as edited: steps after it see `new_output`, and
        the run keeps both (the original in `step_output`, the edit in the history)."""
        self._decide(Verdict.edit, value=new_output)
        self.confirmed, self.edited_output = True, new_output

    async def aconfirm(self) -> None:
        """`confirm`, with the store's I/O awaited."""
        await self._adecide(Verdict.confirm)
        self.confirmed = True

    async def areject(self, feedback: str | None = None) -> None:
        """`reject`, with the store's I/O awaited."""
        if self._on_reject is OnReject.cancel:
            self._view.record = await self._workflow.store.acancel(
                self._view.record.run_id, now=self._workflow.own_time()
            )
        else:
            await self._adecide(Verdict.reject, feedback)
        self.confirmed, self.rejection_feedback = False, feedback

    async def aset_user_input(self, **values: JSON) -> None:
        """`set_user_input`, awaited."""
        await self._adecide(Verdict.provide, value=dict(values))
        self.user_input = dict(values)

    async def aselect(self, *choices: str) -> None:
        """`select`, awaited."""
        await self._adecide(Verdict.select, value=list(choices))
        self.selected_choices = list(choices)

    async def aedit(self, new_output: JSON) -> None:
        """`edit`, awaited."""
        await self._adecide(Verdict.edit, value=new_output)
        self.confirmed, self.edited_output = True, new_output

    def _cancel(self) -> None:
        workflow = self._workflow
        self._view.record = workflow.store.cancel(self._view.record.run_id, now=workflow.own_time())

    def _decide(self, verdict: Verdict, feedback: str | None = None, value: JSON = None) -> None:
        workflow = self._workflow
        check_actor(workflow, self._view.record.user_id, self)
        self._view.record = workflow.store.decide(
            self._view.record.run_id, self.request_id, verdict, feedback,
            decision_id=self._decision_id(verdict), now=workflow.own_time(),
            seen=self._view.record, value=value, by=self._view.record.user_id,
        ).run  # fmt: skip

    async def _adecide(
        self, verdict: Verdict, feedback: str | None = None, value: JSON = None
    ) -> None:
        workflow = self._workflow
        check_actor(workflow, self._view.record.user_id, self)
        result = await workflow.store.adecide(
            self._view.record.run_id, self.request_id, verdict, feedback,
            decision_id=self._decision_id(verdict), now=workflow.own_time(),
            seen=self._view.record, value=value, by=self._view.record.user_id,
        )  # fmt: skip
        self._view.record = result.run

    def _decision_id(self, verdict: Verdict) -> str:
        found = self._decisions.get(verdict)
        if found is None:
            found = self._decisions[verdict] = new_id()
        return found


def check_actor(workflow: Workflow, actor: str | None, requirement: StepRequirement) -> None:
    """Refuse `actor` deciding `requirement` if the workflow's `authorize` hook says no.

    Raises:
        ActorRefused: the hook returned a false value (or raised: refused, not crashed).
    """
    if workflow.authorize is None:
        return
    try:
        allowed = workflow.authorize(actor, requirement)
    except Exception as exc:
        raise ActorRefused(
            requirement.request_id, actor, f"the authorize hook raised {type(exc).__name__}"
        ) from exc
    if not allowed:
        raise ActorRefused(requirement.request_id, actor, "the workflow's authorize hook")


def retries(run: RunRecord, request_id: str) -> int:
    """How many failures of the same iteration a human answered with a retry before."""
    asked = where_asked(request_id)
    count = 0
    for answer in run.answers:
        earlier = where_asked(answer.request_id)
        if answer.how == Verdict.retry.value and earlier is not None and asked is not None:
            count += earlier[:4] == asked[:4]
    return count
