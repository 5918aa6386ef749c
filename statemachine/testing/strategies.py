"""Hypothesis strategies for gate policies, events, records and JSON values (the `testing`
extra)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from statemachine.core.events import (
    Advance,
    Cancel,
    Confirm,
    Edit,
    Event,
    IterationCompleted,
    IterationFailed,
    Provide,
    Reject,
    Retry,
    Select,
    Skip,
    Start,
    Timeout,
)
from statemachine.core.policy import (
    HumanReview,
    OnError,
    OnReject,
    OnTimeout,
    UserInputField,
)
from statemachine.core.record import Gate

__all__ = [
    "EPOCH",
    "FIELDS",
    "ROUTES",
    "event_sequences",
    "events",
    "gates",
    "json_values",
    "policies",
]


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Values a JSON document can carry and give back unchanged (no tuples, no NaN)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


ROUTES = ("a", "b", "c")
"""The routes of the router gates `gates(routers=True)` makes, which `events` selects from."""

FIELDS = (
    UserInputField(name="n", field_type="int"),
    UserInputField(name="tone", allowed_values=["formal", "casual"], required=False),
)
"""The schema of the gates that ask for input, which `events` provides values for."""


def policies(**fixed: Any) -> st.SearchStrategy[HumanReview]:
    """Every kind of `HumanReview` (at most one kind of review, as the policy requires).

    Keyword arguments pin fields to a value (``policies(on_reject="retry")``) or to a strategy of
    their own (``policies(timeout=st.sampled_from([None, 60]))``).
    """
    messages = st.none() | st.text(max_size=30)
    review = st.sampled_from(["none", "iteration", "output"])
    fields: dict[str, st.SearchStrategy[Any]] = {
        "requires_confirmation": st.booleans(),
        "confirmation_message": messages,
        "requires_user_input": st.booleans(),
        "user_input_message": messages,
        "user_input_schema": st.sampled_from([(), FIELDS]),
        "iteration_review_message": messages,
        "output_review_message": messages,
        "on_reject": st.sampled_from([OnReject.skip, OnReject.cancel, OnReject.retry]),
        "on_error": st.sampled_from(OnError),
        "max_retries": st.integers(0, 4),
        "timeout": st.none() | st.sampled_from([1, 60, 3600]) | st.floats(0.001, 86_400.0),
        "on_timeout": st.sampled_from(OnTimeout),
        "assignees": st.sampled_from([(), ("ana",), ("ana", "bob")]),
        "candidate_groups": st.sampled_from([(), ("editors",)]),
        "forbid_self_approval": st.booleans(),
    }
    for name, value in fixed.items():
        fields[name] = value if isinstance(value, st.SearchStrategy) else st.just(value)

    @st.composite
    def build(draw: st.DrawFn) -> HumanReview:
        chosen = {name: draw(strategy) for name, strategy in fields.items()}
        if "requires_iteration_review" not in chosen and "requires_output_review" not in chosen:
            kind = draw(review)
            chosen["requires_iteration_review"] = kind == "iteration"
            chosen["requires_output_review"] = kind == "output"
        return HumanReview(**chosen)

    return build()


def gates(
    policy: st.SearchStrategy[HumanReview] | None = None,
    max_iterations: st.SearchStrategy[int] | None = None,
    routers: bool = False,
) -> st.SearchStrategy[Gate]:
    """New (`pending`) gate records; with `routers`, some are routers over `ROUTES` (which a
    human may select from, one or several)."""
    shapes = st.just(((), False))
    if routers:
        shapes = shapes | st.tuples(st.just(ROUTES), st.booleans())
    return st.builds(
        lambda name, chosen_policy, top, shape: Gate(
            name=name,
            policy=chosen_policy,
            max_iterations=top,
            choices=shape[0],
            multiple=shape[1],
            members=shape[0],
        ),
        st.text(min_size=1, max_size=12),
        policy if policy is not None else policies(),
        max_iterations if max_iterations is not None else st.integers(1, 6),
        shapes,
    )


def _gate(name: str, policy: HumanReview, top: int, shape: tuple[tuple[str, ...], bool]) -> Gate:
    choices, multiple = shape
    return Gate(
        name=name, policy=policy, max_iterations=top, choices=choices, multiple=multiple,
        members=choices,
    )  # fmt: skip


def events() -> st.SearchStrategy[Event]:
    """One event of any kind, decisions without a request id or decision time."""
    values = st.fixed_dictionaries({"n": st.integers(0, 9)}, optional={"tone": st.just("formal")})
    return st.one_of(
        st.builds(Start, choice=st.sampled_from([(), ("if",), ("else",), ("a",)])),
        st.just(Confirm()),
        st.builds(Reject, st.none() | st.text(max_size=30)),
        st.builds(Provide, values=values | st.just({"n": "nine"})),
        st.builds(
            Select, choices=st.lists(st.sampled_from([*ROUTES, "z"]), min_size=1, max_size=2)
        ),
        st.builds(Edit, output=json_values()),
        st.just(Retry()),
        st.just(Skip()),
        st.just(Timeout()),
        st.just(Cancel()),
        st.builds(IterationCompleted, json_values(), st.booleans(), st.booleans()),
        st.builds(IterationFailed, st.text(max_size=20)),
        st.just(Advance()),
    )


def event_sequences(
    min_size: int = 0, max_size: int = 30
) -> st.SearchStrategy[list[tuple[timedelta, Event]]]:
    """Lists of (time elapsed since the previous event, event): apply them with `step` at a
    clock that advances by each delay. Many events will be refused; that is part of the test."""
    delays = st.just(timedelta(0)) | st.timedeltas(timedelta(0), timedelta(hours=25))
    return st.lists(st.tuples(delays, events()), min_size=min_size, max_size=max_size)


EPOCH = datetime(2030, 1, 1, tzinfo=UTC)
"""A fixed start time for clocks in tests."""
