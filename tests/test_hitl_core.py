"""The core's new kinds of pause, piece by piece: user input fields and their checks, route
selections, decisions that carry values, containers' rounds, and what bad input raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import attrs
import pytest

from statemachine import (
    Advance,
    Confirm,
    DecisionConflict,
    DefinitionError,
    Event,
    Gate,
    HumanReview,
    InvalidArgument,
    InvalidInput,
    InvalidSelection,
    IterationCompleted,
    IterationFailed,
    OnError,
    OnReject,
    Provide,
    RequestKind,
    RunStatus,
    Select,
    StaleRequest,
    Start,
    State,
    UserInputField,
    WrongDecision,
    dumps,
    loads,
    step,
)
from statemachine.core.decisions import Outcome, Verdict, check_decision, decide
from statemachine.core.machine import Asked, where_asked
from statemachine.core.policy import input_problems
from statemachine.core.runs import apply_event, cancel_run, finish_step
from statemachine.testing.contract import sample_run

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "build",
    [
        lambda: UserInputField(name=""),
        lambda: UserInputField(name="x" * 201),
        lambda: UserInputField(name="n", field_type="decimal"),
        lambda: UserInputField(name="n", allowed_values="abc"),
        lambda: UserInputField(name="n", allowed_values=[float("nan")]),
        lambda: UserInputField(name="n", required="yes"),  # type: ignore[arg-type]
        lambda: HumanReview(user_input_schema="n"),
        lambda: HumanReview(user_input_schema=[{"name": "n", "kind": "int"}]),
        lambda: HumanReview(user_input_schema=[7]),
        lambda: HumanReview(user_input_schema=[{"name": "n"}, {"name": "n"}]),
        lambda: HumanReview(requires_output_review="sometimes"),  # type: ignore[arg-type]
        lambda: HumanReview(max_retries=-1),
        lambda: HumanReview(max_retries=True),
        lambda: HumanReview(on_error="ignore"),
        lambda: HumanReview(requires_output_review=True, requires_iteration_review=True),
    ],
)
def test_bad_policies_are_definition_errors(build: Any) -> None:
    with pytest.raises(DefinitionError):
        build()


def test_enums_equal_their_values_as_the_peers_do() -> None:
    assert cast(str, OnReject.else_branch) == "else"
    assert OnError.pause == "pause"
    assert RequestKind.route == "route"
    assert HumanReview(on_reject="else", on_error="skip").on_error is OnError.skip


SCHEMA = HumanReview(
    user_input_schema=[
        {"name": "n", "field_type": "int"},
        {"name": "x", "field_type": "float", "required": False},
        {"name": "flag", "field_type": "bool", "required": False},
        {"name": "tags", "field_type": "list", "required": False},
        {"name": "extra", "field_type": "dict", "required": False},
        {"name": "tone", "field_type": "text", "allowed_values": ["formal", "casual"]},
    ]
).user_input_schema


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({"n": 1, "tone": "formal"}, 0),
        ({"n": 1, "x": 2, "flag": False, "tags": [], "extra": {}, "tone": "casual"}, 0),
        ({"tone": "formal"}, 1),  # n missing
        ({"n": 1, "tone": ""}, 1),  # empty text is missing
        ({"n": True, "tone": "formal"}, 1),  # a bool is not an int
        ({"n": 1, "x": "2", "tone": "formal"}, 1),
        ({"n": 1, "flag": 1, "tone": "formal"}, 1),
        ({"n": 1, "tags": {}, "extra": [], "tone": "formal"}, 2),
        ({"n": 1, "tone": "rude"}, 1),
        ({"n": 1, "tone": "formal", "colour": "red"}, 1),
    ],
)
def test_input_values_are_checked_field_by_field(values: dict[str, Any], problems: int) -> None:
    assert len(input_problems(SCHEMA, values)) == problems


def test_allowed_values_compare_by_type_too() -> None:
    (field,) = HumanReview(
        user_input_schema=[{"name": "v", "field_type": "int", "allowed_values": [1, 2]}]
    ).user_input_schema
    assert input_problems((field,), {"v": 1}) == []
    assert input_problems((field,), {"v": 3}) != []


def test_without_a_schema_any_values_are_taken() -> None:
    assert input_problems((), {"anything": [1, 2]}) == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: Select(choices=5),
        lambda: Select(choices=["a", 1]),
        lambda: Provide(values=["n", 1]),  # type: ignore[arg-type]
        lambda: Provide(values={"n": float("inf")}),
        lambda: IterationFailed(7),  # type: ignore[arg-type]
        lambda: Start(choice=[None]),
    ],
)
def test_malformed_events_are_invalid_arguments(build: Any) -> None:
    with pytest.raises(InvalidArgument):
        build()


@pytest.mark.parametrize(
    "fields",
    [
        {"choices": ["a"]},
        {"members": ("a", 1)},
        {"position": -1},
        {"round": "1"},
        {"edited": True, "state": State.pending},
    ],
)
def test_gates_refuse_containment_fields_that_cannot_be(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        Gate(name="g", policy=HumanReview(), **fields)


def router(**policy: Any) -> Gate:
    review = HumanReview(requires_user_input=True, **policy)
    return Gate(
        name="r", policy=review, max_iterations=3, choices=("a", "b"), members=("r/a", "r/b")
    )


def test_selections_are_checked_against_the_routes() -> None:
    gate, _ = step(router(), Start(), NOW)
    for choices, reason in [
        ([], "select a route"),
        (["z"], "unknown routes"),
        (["a", "a"], "each route once"),
        (["a", "b"], "one route"),
    ]:
        with pytest.raises(InvalidSelection, match=reason):
            step(gate, Select(choices=choices), NOW)
    multiple = attrs.evolve(gate, multiple=True)
    chosen, _ = step(multiple, Select(choices=["b", "a"]), NOW)
    assert chosen.choice == ("b", "a")


def test_a_decision_for_another_kind_of_request_is_a_wrong_decision() -> None:
    gate, _ = step(router(), Start(), NOW)
    with pytest.raises(WrongDecision) as info:
        step(gate, Provide(values={"n": 1}), NOW)
    assert (info.value.asked, info.value.decision) == ("route", "provide")


def test_input_that_does_not_fit_is_refused_and_nothing_changes() -> None:
    policy = HumanReview(
        requires_user_input=True, user_input_schema=[{"name": "n", "field_type": "int"}]
    )
    gate, _ = step(Gate(name="s", policy=policy, max_iterations=1), Start(), NOW)
    with pytest.raises(InvalidInput) as info:
        step(gate, Provide(values={"n": "one"}), NOW)
    assert info.value.problems == ("'n' must be an int, not 'one'",)
    assert isinstance(info.value, InvalidArgument)
    started, _ = step(gate, Provide(values={"n": 1}), NOW)
    assert (started.state, started.values) == (State.iterating, {"n": 1})


def routed_run() -> tuple[Any, Gate]:
    """A run whose router took route a, whose confirmed step ran, and that waits for the
    review of the router's output."""
    run = attrs.evolve(sample_run("run-r", NOW, paused=False, timeout=None), gates=(), cursor="r")
    gate = router(requires_output_review=True, on_reject=OnReject.retry)
    child = Gate(name="r/a", policy=HumanReview(requires_confirmation=True), max_iterations=1)
    events: list[tuple[str, Event]] = [
        ("r", Start()),
        ("r", Select(choices=["a"])),
        ("r/a", Start()),
        ("r/a", Confirm()),
        ("r/a", IterationCompleted("a's output")),
    ]
    for name, event in events:
        run, _ = apply_event(run, run.gate(name) or (gate if name == "r" else child), event, NOW)
    run = finish_step(run, "r/a", "a's output", State.done, None, NOW, within=run.gate("r"))
    parent = run.gate("r")
    assert parent is not None
    assert parent.position == 1
    run, _ = apply_event(run, parent, IterationCompleted("a's output"), NOW)
    return run, run.gate("r")  # type: ignore[return-value]


def test_a_new_route_starts_the_steps_inside_the_router_afresh() -> None:
    """After a rejected review and a new selection, the router's inner gates start over in a
    new round (their requests get new ids) and their results are dropped."""
    run, gate = routed_run()
    assert gate.request is not None
    assert gate.request.kind is RequestKind.review
    run = decide(run, None, Verdict.reject, feedback="not a", decision_id="d1", now=NOW).run
    asked = run.gate("r")
    assert asked is not None
    assert asked.request is not None
    assert asked.request.kind is RequestKind.route
    run = decide(run, None, Verdict.select, value="b", decision_id="d2", now=NOW).run
    inner = run.gate("r/a")
    assert inner is not None
    assert (inner.state, inner.round) == (State.pending, 1)
    assert [r.name for r in run.results if r.name.startswith("r/")] == []
    restarted, _ = step(inner, Start(), NOW)
    assert restarted.request is not None
    assert restarted.request.request_id == "r/a@1:confirmation:0"
    assert loads(dumps(run), type(run)) == run


def test_decisions_carry_their_values_and_are_idempotent_by_id() -> None:
    run, _ = routed_run()
    edited = decide(
        run, None, Verdict.edit, value={"text": "better"}, decision_id="e", by="ann", now=NOW
    )
    assert edited.outcome is Outcome.applied
    gate = edited.run.gate("r")
    assert gate is not None
    assert gate.accepted == {"text": "better"}
    answer = edited.run.answers[-1]
    assert (answer.how, answer.by, answer.value, answer.at) == (
        "edit",
        "ann",
        {"text": "better"},
        NOW,
    )
    again = decide(
        edited.run, None, Verdict.edit, value={"text": "better"}, decision_id="e", now=NOW
    )
    assert again.outcome is Outcome.duplicate
    with pytest.raises(DecisionConflict, match="other content"):
        decide(edited.run, None, Verdict.edit, value="worse", decision_id="e", now=NOW)
    with pytest.raises(StaleRequest, match="decided already"):
        decide(edited.run, gate.name + ":review:1", Verdict.confirm, decision_id="f", now=NOW)


def test_errors_are_retried_or_skipped_by_decision() -> None:
    policy = HumanReview(on_error="pause")
    run = attrs.evolve(sample_run("run-e", NOW, paused=False, timeout=None), gates=(), cursor="s")
    run, _ = apply_event(run, Gate(name="s", policy=policy, max_iterations=1), Start(), NOW)
    run, action = apply_event(run, run.gate("s"), IterationFailed("ValueError: no"), NOW)  # type: ignore[arg-type]
    assert run.status is RunStatus.paused
    assert action.error == "ValueError: no"  # type: ignore[union-attr]
    retried = decide(run, None, Verdict.retry, decision_id="r", now=NOW).run
    assert retried.gate("s").state is State.iterating  # type: ignore[union-attr]
    skipped = decide(run, None, Verdict.skip, decision_id="k", now=NOW).run
    assert skipped.gate("s").state is State.skipped  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("verdict", "value", "reason"),
    [
        ("provide", ["n"], "dict of values"),
        ("select", {"a": 1}, "route names"),
        ("select", ["a", 2], "route names"),
        ("edit", float("nan"), "value"),
        ("confirm", "yes", "carries no value"),
        ("approve", None, "decision must be one of"),
    ],
)
def test_decision_arguments_are_checked_before_anything(
    verdict: str, value: Any, reason: str
) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        check_decision(None, verdict, None, "d", value)
    with pytest.raises(InvalidArgument, match="by must be"):
        check_decision(None, "confirm", None, "d", None, by="")


def test_cancelling_a_run_cancels_its_pending_gate_inside_a_container() -> None:
    run, _ = routed_run()
    cancelled = cancel_run(run, NOW + timedelta(seconds=1))
    assert cancelled.status is RunStatus.cancelled
    assert cancelled.gate("r").state is State.cancelled  # type: ignore[union-attr]
    assert cancelled.answers[-1].how == "cancel"


def test_advance_is_refused_outside_a_container() -> None:
    gate, _ = step(Gate(name="s", policy=HumanReview(), max_iterations=1), Start(), NOW)
    with pytest.raises(Exception, match="refuses Advance"):
        step(gate, Advance(), NOW)


def test_decisions_through_the_run_for_input_and_routes() -> None:
    """provide and select, recorded as the store records them; names or a name select."""
    policy = HumanReview(
        requires_user_input=True, user_input_schema=[{"name": "n", "field_type": "int"}]
    )
    run = attrs.evolve(sample_run("run-i", NOW, paused=False, timeout=None), gates=(), cursor="s")
    run, _ = apply_event(run, Gate(name="s", policy=policy, max_iterations=1), Start(), NOW)
    assert check_decision(None, "provide", None, "d", {"n": 1}) is Verdict.provide
    given = decide(run, None, Verdict.provide, value={"n": 1}, decision_id="d", now=NOW).run
    assert given.gate("s").values == {"n": 1}  # type: ignore[union-attr]
    assert check_decision(None, "select", None, "d", ["a"]) is Verdict.select
    assert Select(choices="a").choices == ("a",)


def test_the_smaller_pieces_of_policy() -> None:
    assert HumanReview(user_input_schema=None).user_input_schema == ()
    assert HumanReview(on_error="pause").is_human
    assert not HumanReview(on_error="skip").is_human


def test_an_enum_field_stored_as_another_type_is_malformed() -> None:
    from statemachine import MalformedRecord

    document = dumps(Gate(name="g", policy=HumanReview())).replace(
        '"on_reject":"skip"', '"on_reject":1'
    )
    with pytest.raises(MalformedRecord):
        loads(document, Gate)


@pytest.mark.parametrize(("request_id", "asked"), [
    ("loop:review:2", Asked("loop", 0, RequestKind.review, 2)),
    ("router/x@3:confirmation:0", Asked("router/x", 3, RequestKind.confirmation, 0)),
    ("a:b:error:1:7", Asked("a:b", 0, RequestKind.error, 1)),
    ("step:nonsense:1", None),
    ("no kind at all", None),
])  # fmt: skip
def test_request_ids_read_back(request_id: str, asked: Asked | None) -> None:
    """What a request id says (gate, round, kind, iteration) is read back from it alone."""
    assert where_asked(request_id) == asked
