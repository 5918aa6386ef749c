"""Hypothesis strategies for gate policies, events, records and JSON values (the `testing`
extra)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from statemachine.core.events import (
    Cancel,
    Confirm,
    Event,
    IterationCompleted,
    Reject,
    Start,
    Timeout,
)
from statemachine.core.policy import HumanReview, OnReject, OnTimeout
from statemachine.core.record import Gate

__all__ = ["EPOCH", "event_sequences", "events", "gates", "json_values", "policies"]


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


def policies(**fixed: Any) -> st.SearchStrategy[HumanReview]:
    """Every kind of `HumanReview`.

    Keyword arguments pin fields to a value (``policies(on_reject="retry")``) or to a strategy of
    their own (``policies(timeout=st.sampled_from([None, 60]))``).
    """
    messages = st.none() | st.text(max_size=30)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "requires_confirmation": st.booleans(),
        "confirmation_message": messages,
        "requires_iteration_review": st.booleans(),
        "iteration_review_message": messages,
        "requires_output_review": st.booleans(),
        "output_review_message": messages,
        "on_reject": st.sampled_from(OnReject),
        "timeout": st.none() | st.sampled_from([1, 60, 3600]) | st.floats(0.001, 86_400.0),
        "on_timeout": st.sampled_from(OnTimeout),
    }
    for name, value in fixed.items():
        fields[name] = value if isinstance(value, st.SearchStrategy) else st.just(value)
    return st.builds(HumanReview, **fields)


def gates(
    policy: st.SearchStrategy[HumanReview] | None = None,
    max_iterations: st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[Gate]:
    """New (`pending`) gate records."""
    return st.builds(
        Gate,
        name=st.text(min_size=1, max_size=12),
        policy=policy if policy is not None else policies(),
        max_iterations=max_iterations if max_iterations is not None else st.integers(1, 6),
    )


def events() -> st.SearchStrategy[Event]:
    """One event of any kind, decisions without a request id or decision time."""
    return st.one_of(
        st.just(Start()),
        st.just(Confirm()),
        st.builds(Reject, st.none() | st.text(max_size=30)),
        st.just(Timeout()),
        st.just(Cancel()),
        st.builds(IterationCompleted, json_values(), st.booleans()),
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
