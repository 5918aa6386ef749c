"""Every kind of pause the peer framework has, against the contract in `docs/state-machine.md`.

The contract (`semantics.md`) defines confirmations and reviews; the docs extend it with input
values, route selection, error decisions, edited outputs and the steps inside a container.
The oracle below is written from that text alone, not from `table.py`: every (policy, state,
pending request, iteration, event) ends where it says, or is refused with the error it names.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from statemachine import (
    Advance,
    Cancel,
    Confirm,
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
    Request,
    RequestKind,
    Retry,
    Select,
    Skip,
    Start,
    State,
    StateMachineError,
    Timeout,
    TimeoutNotDue,
    TransitionRefused,
    WrongDecision,
    step,
)

PAUSED_AT = datetime(2030, 1, 1, tzinfo=UTC)
MAX = 2
ROUTES = ("a", "b")
SCHEMA = [{"name": "n", "field_type": "int"}]

EVENTS: dict[str, Event] = {
    "start": Start(),
    "confirm": Confirm(),
    "reject": Reject("no"),
    "provide": Provide(values={"n": 1}),
    "provide(wrong)": Provide(values={"n": "one"}),
    "select": Select(choices=["b"]),
    "select(two)": Select(choices=["a", "b"]),
    "edit": Edit(output="edited"),
    "retry": Retry(),
    "skip": Skip(),
    "timeout": Timeout(),
    "cancel": Cancel(),
    "completed(continue)": IterationCompleted("new", should_continue=True),
    "completed(stop)": IterationCompleted("new", should_continue=False),
    "failed": IterationFailed("ValueError: boom"),
    "advance": Advance(),
}

# What each decision answers, as the docs' table of decisions says.
ANSWERS = {
    "confirm": {"confirmation", "review"},
    "reject": {"confirmation", "input", "route", "review"},
    "provide": {"input"},
    "provide(wrong)": {"input"},
    "select": {"route"},
    "select(two)": {"route"},
    "edit": {"review"},
    "retry": {"error"},
    "skip": {"error"},
}

Position = tuple[State, str | None, int]  # state, the pending request's kind, k
Expected = tuple[State, str | None, int] | type[Exception]


def positions() -> list[Position]:
    waiting = [
        (State.awaiting_confirmation, kind, 0) for kind in ("confirmation", "input", "route")
    ]
    waiting += [(State.awaiting_confirmation, "route", k) for k in range(1, MAX)]
    during = [
        (state, kind, k)
        for state, kind in (
            (State.iterating, None), (State.awaiting_review, "review"),
            (State.awaiting_review, "error"), (State.done, None),
        )
        for k in range(1, MAX + 1)
    ]  # fmt: skip
    ended = [(state, None, k) for state in (State.skipped, State.cancelled) for k in (0, MAX)]
    return [(State.pending, None, 0), *waiting, *during, *ended]


def asked(policy: HumanReview, routes: bool) -> list[str]:
    """What a gate asks before its first iteration, in order."""
    kinds = ["confirmation"] if policy.requires_confirmation else []
    if policy.requires_user_input:
        kinds.append("route" if routes else "input")
    return kinds


def rejected(policy: HumanReview, state: State, k: int, routes: bool) -> Expected:
    """A rejection: `on_reject` decides; retrying needs an iteration to retry, and a try left."""
    if policy.on_reject is OnReject.skip:
        return (State.skipped, None, k)
    if policy.on_reject is OnReject.cancel:
        return (State.cancelled, None, k)
    if policy.on_reject is OnReject.else_branch:
        # The else branch of a Condition's confirmation; nothing to reject into after a review.
        return (
            (State.iterating, None, k + 1)
            if state is State.awaiting_confirmation
            else (TransitionRefused)
        )
    if state is State.awaiting_confirmation or k >= MAX:
        return (State.skipped, None, k)
    return (State.awaiting_confirmation, "route", k) if routes else (State.iterating, None, k + 1)


def contract(policy: HumanReview, routes: bool, position: Position, label: str) -> Expected:
    """Where the docs' contract takes the gate: the table first, then the deadline (a timeout
    the table would refuse is refused, due or not)."""
    expected = _contract(policy, routes, position, label)
    if label == "timeout" and policy.timeout is None and expected is not TransitionRefused:
        return TimeoutNotDue
    return expected


def _contract(policy: HumanReview, routes: bool, position: Position, label: str) -> Expected:
    state, kind, k = position
    if state.is_terminal:
        return TransitionRefused
    if label in ANSWERS and kind is not None and kind not in ANSWERS[label]:
        return WrongDecision
    if label == "cancel":
        return (State.cancelled, None, k)
    if state is State.pending:
        if label != "start":
            return TransitionRefused
        first = asked(policy, routes)
        return (State.awaiting_confirmation, first[0], 0) if first else (State.iterating, None, 1)
    if state is State.iterating:
        if label.startswith("completed"):
            if policy.reviews_iterations:
                return (State.awaiting_review, "review", k)
            go_on = label == "completed(continue)" and k < MAX
            return (State.iterating, None, k + 1) if go_on else (State.done, None, k)
        if label == "failed":
            if policy.on_error is OnError.pause:
                return (State.awaiting_review, "error", k)
            return (
                (State.skipped, None, k) if policy.on_error is OnError.skip else TransitionRefused
            )
        if label == "advance":
            return (State.iterating, None, k) if routes else TransitionRefused
        return TransitionRefused
    # A pause: a timeout acts as the decision on_timeout names, once the deadline passed.
    decision = label
    if label == "timeout":
        decision = {
            OnTimeout.approve: "confirm" if kind in ("confirmation", "review") else "skip!",
            OnTimeout.reject: "skip!" if kind == "error" else "reject",
            OnTimeout.skip: "skip!",
            OnTimeout.cancel: "cancel",
        }[policy.on_timeout]
    if decision == "skip!":
        return (State.skipped, None, k)
    if decision == "cancel":
        return (State.cancelled, None, k)
    if decision == "reject":
        return rejected(policy, state, k, routes)
    if decision == "confirm":
        if kind == "review":
            return (State.done, None, k)
        after = asked(policy, routes)
        following = after[after.index(kind) + 1 :] if kind in after else []
        return (State.awaiting_confirmation, following[0], k) if following else (
            State.iterating, None, k + 1
        )  # fmt: skip
    if decision == "provide":
        return (State.iterating, None, k + 1)
    if decision == "provide(wrong)":
        return InvalidInput if policy.user_input_schema else (State.iterating, None, k + 1)
    if decision == "select":
        return (State.iterating, None, k + 1) if routes else InvalidSelection
    if decision == "select(two)":
        return InvalidSelection  # one route unless the router takes several; here it does not
    if decision == "edit":
        return (State.done, None, k)
    if decision == "retry":
        return (State.iterating, None, k)
    if decision == "skip":
        return (State.skipped, None, k)
    return TransitionRefused  # start, completions, failures and advances while paused


def gate_at(policy: HumanReview, routes: bool, position: Position) -> Gate:
    state, kind, k = position
    outputs = tuple(f"output {i}" for i in range(1, k + 1))
    if state is State.iterating or kind == "error":
        outputs = outputs[:-1]
    request = None
    if kind is not None:
        deadline = None if policy.timeout is None else PAUSED_AT + timedelta(seconds=policy.timeout)
        request = Request(f"g:{kind}:{k}", RequestKind(kind), "message", deadline)
    choices = ROUTES if routes else ()
    return Gate(
        name="g", policy=policy, max_iterations=MAX, state=state, iteration=k, request=request,
        outputs=outputs, version=7, choices=choices, members=choices,
    )  # fmt: skip


POLICIES = [
    (
        HumanReview(
            requires_confirmation=confirmation,
            requires_user_input=asks,
            user_input_schema=SCHEMA if asks else [],
            requires_iteration_review=review == "iteration",
            requires_output_review=review == "output",
            on_reject=on_reject,
            on_error=on_error,
            on_timeout=on_timeout,
            timeout=timeout,
        ),
        routes,
    )
    for confirmation, asks, review, on_reject, on_error, on_timeout, timeout, routes in (
        itertools.product(
            (False, True), (False, True), ("none", "output"), OnReject, OnError, OnTimeout,
            (None, 60), (False, True),
        )
    )
]  # fmt: skip


def test_every_kind_of_pause_matches_the_contract() -> None:
    """Each (policy, router or not, position, event) ends where the docs' contract says, with
    the pending request it names, or is refused with the error it names."""
    failures: list[tuple[object, ...]] = []
    for (policy, routes), position, label in itertools.product(POLICIES, positions(), EVENTS):
        gate = gate_at(policy, routes, position)
        at = PAUSED_AT + timedelta(seconds=61 if label == "timeout" else 1)
        expected = contract(policy, routes, position, label)
        try:
            new, _ = step(gate, EVENTS[label], at)
        except StateMachineError as refusal:
            if expected is not type(refusal):
                failures.append((policy, routes, position, label, expected, refusal))
            continue
        got = (new.state, None if new.request is None else new.request.kind.value, new.iteration)
        if got != expected:
            failures.append((policy, routes, position, label, expected, got))
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(map(str, failures[:15]))
