"""The real machine against a small model that interprets `TRANSITIONS` on its own.

The model reads the literal table directly, with its own resolution of the policy written from
the contract, so it shares nothing with `machine.py` or `transitions`. Hypothesis drives both with
random events, decisions (in time, late, stale) and clock moves, and compares them after every step.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from statemachine import (
    TRANSITIONS,
    Advance,
    Cancel,
    Confirm,
    DeadlinePassed,
    Edit,
    Event,
    Gate,
    HumanReview,
    InvalidInput,
    InvalidSelection,
    IterationCompleted,
    IterationFailed,
    OnError,
    OnReject,
    OnTimeout,
    Provide,
    Reject,
    Retry,
    Select,
    Skip,
    StaleRequest,
    Start,
    State,
    Timeout,
    TimeoutNotDue,
    TransitionRefused,
    Trigger,
    WrongDecision,
    dumps,
    loads,
    step,
)
from statemachine.testing import EPOCH, ROUTES, events, json_values, policies
from statemachine.testing.explore import fitting

ANSWERABLE = {
    # decision: the requests it answers, from the contract
    Confirm: {"confirmation", "review"},
    Reject: {"confirmation", "input", "route", "review"},
    Provide: {"input"},
    Select: {"route"},
    Edit: {"review"},
    Retry: {"error"},
    Skip: {"error"},
}
TYPES = {"str": str, "int": int}


@attrs.define
class Model:
    """What the gate should look like, kept by hand."""

    policy: HumanReview
    max_iterations: int
    routes: bool
    multiple: bool
    state: State = State.pending
    k: int = 0
    kind: str | None = None
    feedback: list[str | None] = attrs.Factory(list)
    outputs: list[object] = attrs.Factory(list)
    deadline: datetime | None = None
    request_id: str | None = None
    version: int = 0
    choice: tuple[str, ...] = ()
    position: int = 0
    values: object = None
    edited: bool = False
    edited_output: object = None

    def asked(self) -> list[str]:
        """What is asked before the first iteration, in order."""
        asked = ["confirmation"] if self.policy.requires_confirmation else []
        if self.policy.requires_user_input:
            asked.append("route" if self.routes else "input")
        return asked

    def rejection(self) -> Trigger:
        on_reject = self.policy.on_reject
        if on_reject is not OnReject.retry:
            return {
                OnReject.skip: Trigger.reject_skip,
                OnReject.cancel: Trigger.reject_cancel,
                OnReject.else_branch: Trigger.reject_else,
            }[on_reject]
        if self.k >= self.max_iterations:
            return Trigger.reject_retry_exhausted
        return Trigger.reject_reroute if self.routes else Trigger.reject_retry

    def trigger(self, event: Event) -> Trigger | None:
        """The contract's "when" column, for this model's policy, counter and request; None
        when the event cannot apply to this gate at all."""
        asked = self.asked()
        more = self.kind in asked and asked.index(self.kind) + 1 < len(asked)
        if isinstance(event, Timeout):
            action = self.policy.on_timeout
            if action is OnTimeout.approve:
                if self.kind in ("confirmation", "review"):
                    return Trigger.confirm_more if more else Trigger.confirm
                return Trigger.timeout_skip
            if action is OnTimeout.reject:
                return Trigger.timeout_skip if self.kind == "error" else self.rejection()
            return Trigger.timeout_skip if action is OnTimeout.skip else Trigger.timeout_cancel
        if isinstance(event, Reject):
            return self.rejection()
        if isinstance(event, IterationCompleted):
            if self.policy.reviews_iterations and event.review:
                return Trigger.iteration_reviewed
            go_on = event.should_continue and self.k < self.max_iterations
            return Trigger.iteration_next if go_on else Trigger.iteration_last
        if isinstance(event, IterationFailed):
            return {
                OnError.pause: Trigger.iteration_failed_pause,
                OnError.skip: Trigger.iteration_failed_skip,
            }.get(self.policy.on_error)
        if isinstance(event, Advance):
            return Trigger.advance if self.routes else None
        if isinstance(event, Start):
            return Trigger.start_confirmation if asked else Trigger.start
        if isinstance(event, Confirm):
            return Trigger.confirm_more if more else Trigger.confirm
        simple = {Provide: Trigger.provide, Select: Trigger.select, Edit: Trigger.edit,
                  Retry: Trigger.retry, Skip: Trigger.skip, Cancel: Trigger.cancel}  # fmt: skip
        return simple[type(event)]

    def problem(self, event: Event) -> type[Exception] | None:
        """What is wrong with a decision's content, if anything."""
        if isinstance(event, Provide):
            schema = {field.name: field for field in self.policy.user_input_schema}
            for name, field in schema.items():
                value = event.values.get(name)
                if value in (None, ""):
                    if field.required:
                        return InvalidInput
                elif type(value) is not TYPES[field.field_type] or (
                    field.allowed_values is not None and value not in field.allowed_values
                ):
                    return InvalidInput
            if schema and set(event.values) - set(schema):
                return InvalidInput
        if isinstance(event, Select):
            chosen = event.choices
            if not chosen or len(set(chosen)) != len(chosen) or set(chosen) - set(ROUTES):
                return InvalidSelection
            if len(chosen) > 1 and not self.multiple:
                return InvalidSelection
        return None

    def expect(self, event: Event, now: datetime) -> type[Exception] | None:
        """Apply `event` to the model; return the error the machine must raise instead, if any."""
        answers = ANSWERABLE.get(type(event))
        if answers is not None and self.kind is not None and self.kind not in answers:
            return WrongDecision
        trigger = self.trigger(event)
        target = None if trigger is None else TRANSITIONS[self.state].get(trigger)
        if trigger is None or target is None:
            return TransitionRefused
        if isinstance(event, Timeout) and (self.deadline is None or now <= self.deadline):
            return TimeoutNotDue
        if answers is not None and self.kind is not None:
            if event.request_id not in (None, self.request_id):  # type: ignore[union-attr]
                return StaleRequest
            decided = event.decided_at or now  # type: ignore[union-attr]
            if self.deadline is not None and decided > self.deadline:
                return DeadlinePassed
            if problem := self.problem(event):
                return problem
        if trigger.value.startswith("reject_"):
            self.feedback.append(event.feedback if isinstance(event, Reject) else None)
        if isinstance(event, IterationCompleted):
            self.outputs.append(event.output)
        anew = target is State.iterating and trigger not in (Trigger.retry, Trigger.advance)
        if anew:
            self.k += 1
        if isinstance(event, Start):
            self.choice = event.choice
        elif isinstance(event, Select):
            self.choice = event.choices
        elif trigger is Trigger.reject_else:
            self.choice = ("else",)
        self.position = self.position + 1 if trigger is Trigger.advance else self.position
        if anew or trigger is Trigger.retry:
            self.position = 0
        if isinstance(event, Provide):
            self.values = event.values
        self.edited = isinstance(event, Edit)
        self.edited_output = event.output if isinstance(event, Edit) else None
        self.state = target
        self.version += 1
        self.deadline = self.request_id = self.kind = None
        if target.is_paused:
            asked = self.asked()
            if trigger is Trigger.start_confirmation:
                self.kind = asked[0]
            elif trigger is Trigger.confirm_more:
                self.kind = asked[asked.index("confirmation") + 1]
            elif trigger is Trigger.reject_reroute:
                self.kind = "route"
            elif trigger is Trigger.iteration_reviewed:
                self.kind = "review"
            else:
                self.kind = "error"
            self.request_id = f"g:{self.kind}:{self.k}"
            if self.kind == "error":
                self.request_id += f":{self.version}"
            if self.policy.timeout is not None:
                self.deadline = now + timedelta(seconds=self.policy.timeout)
        return None


class GateAgainstModel(RuleBasedStateMachine):
    """Random events, decisions and clock moves, applied to the machine and the model alike."""

    def __init__(self) -> None:
        super().__init__()
        self.now = EPOCH

    @initialize(
        policy=policies(timeout=st.sampled_from([None, 60, 0.5])),
        max_iterations=st.integers(1, 4),
        routes=st.booleans(),
        multiple=st.booleans(),
    )
    def create(
        self, policy: HumanReview, max_iterations: int, routes: bool, multiple: bool
    ) -> None:
        choices = ROUTES if routes else ()
        self.gate = Gate(
            name="g", policy=policy, max_iterations=max_iterations, choices=choices,
            multiple=multiple, members=choices,
        )  # fmt: skip
        self.model = Model(policy, max_iterations, routes, multiple)

    def apply(self, event: Event) -> None:
        expected_error = self.model.expect(event, self.now)
        if expected_error is not None:
            with pytest.raises(expected_error) as info:
                step(self.gate, event, self.now)
            assert type(info.value) is expected_error, (event, info.value)
            return
        self.gate, _ = step(self.gate, event, self.now)
        self.compare()

    def compare(self) -> None:
        gate, model = self.gate, self.model
        assert (gate.state, gate.iteration, gate.version) == (model.state, model.k, model.version)
        assert list(gate.feedback) == model.feedback
        assert list(gate.outputs) == model.outputs
        assert gate.deadline == model.deadline
        assert (gate.request and gate.request.request_id) == model.request_id
        assert (gate.request and gate.request.kind.value) == model.kind
        assert (gate.choice, gate.position, gate.values) == (
            model.choice, model.position, model.values,
        )  # fmt: skip
        assert (gate.edited, gate.edited_output) == (model.edited, model.edited_output)

    @rule(event=events())
    def send(self, event: Event) -> None:
        self.apply(event)

    @precondition(lambda self: self.gate.state is State.iterating)
    @rule(output=json_values(), should_continue=st.booleans(), review=st.booleans())
    def complete_iteration(self, output: object, should_continue: bool, review: bool) -> None:
        self.apply(IterationCompleted(output, should_continue, review))

    @precondition(lambda self: self.gate.state is State.iterating)
    @rule(error=st.sampled_from(["ValueError: no", "TimeoutError"]))
    def fail_iteration(self, error: str) -> None:
        self.apply(IterationFailed(error))

    @precondition(lambda self: self.gate.request is not None)
    @rule(data=st.data())
    def answer_what_is_asked(self, data: st.DataObject) -> None:
        """The decision the pending request asks for, well formed (the `send` rule tries every
        other)."""
        assert self.gate.request is not None
        kind = self.gate.request.kind.value
        if kind == "input":
            event: Event = Provide(values=fitting(self.gate.policy.user_input_schema))
        elif kind == "route":
            event = Select(choices=data.draw(st.lists(st.sampled_from(ROUTES), min_size=1,
                                                      max_size=2, unique=True)))  # fmt: skip
        elif kind == "error":
            event = data.draw(st.sampled_from([Retry(), Skip()]))  # type: ignore[assignment]
        elif kind == "review":
            event = data.draw(st.sampled_from([Confirm(), Edit(output="edited")]))  # type: ignore[assignment]
        else:
            event = Confirm()
        self.apply(event)

    @precondition(lambda self: self.gate.state is State.pending)
    @rule()
    def start(self) -> None:
        self.apply(Start())

    @precondition(lambda self: self.gate.state.is_paused)
    @rule()
    def confirm(self) -> None:
        self.apply(Confirm())

    @precondition(lambda self: self.gate.state.is_paused)
    @rule(feedback=st.none() | st.sampled_from(["shorter", ""]))
    def reject(self, feedback: str | None) -> None:
        self.apply(Reject(feedback))

    @precondition(lambda self: self.gate.state.is_paused)
    @rule()
    def timeout_exactly_at_deadline(self) -> None:
        """A deadline is inclusive: a decision may still come at that very instant."""
        if self.gate.deadline is not None and self.now <= self.gate.deadline:
            self.now = self.gate.deadline
        self.apply(Timeout())

    @rule(seconds=st.sampled_from([0.5, 30, 59.999, 60, 60.001, 3600, 90_000]))
    def advance_clock(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.gate.state.is_paused)
    @rule()
    def timeout_when_due(self) -> None:
        if self.gate.deadline is not None:
            self.now = max(self.now, self.gate.deadline + timedelta(microseconds=1))
        self.apply(Timeout())

    @precondition(lambda self: self.gate.state.is_paused)
    @rule(confirm=st.booleans(), late=st.booleans(), stale=st.booleans())
    def decide_with_request_and_time(self, confirm: bool, late: bool, stale: bool) -> None:
        pending = self.gate.request
        request_id = "g:review:0" if stale or pending is None else pending.request_id
        deadline = self.gate.deadline
        if deadline is None:
            decided_at = self.now
        else:
            decided_at = deadline + timedelta(seconds=1) if late else deadline
            self.now = max(self.now, deadline + timedelta(seconds=5))  # applied late either way
        if confirm:
            self.apply(Confirm(request_id=request_id, decided_at=decided_at))
        else:
            self.apply(Reject("late or not", request_id=request_id, decided_at=decided_at))

    @precondition(lambda self: self.gate.is_terminal)
    @rule(event=events())
    def terminal_absorbs(self, event: Event) -> None:
        with pytest.raises(TransitionRefused) as info:
            step(self.gate, event, self.now)
        assert info.value.state is self.gate.state

    @invariant()
    def iteration_within_bounds(self) -> None:
        if hasattr(self, "gate"):
            assert 0 <= self.gate.iteration <= self.gate.max_iterations

    @invariant()
    def record_round_trips(self) -> None:
        if hasattr(self, "gate"):
            assert loads(dumps(self.gate), Gate) == self.gate


TestGateAgainstModel = GateAgainstModel.TestCase
# Most random steps are refused, and a gate's life is short: give the backbone more runs.
TestGateAgainstModel.settings = settings(max_examples=settings().max_examples * 5)
