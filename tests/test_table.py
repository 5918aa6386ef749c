"""The transition table: its import-time validation and the `transitions` engine built from it."""

from __future__ import annotations

import pytest
from transitions import Machine

from statemachine import (
    TRANSITIONS,
    Gate,
    HumanReview,
    IterationCompleted,
    Start,
    State,
    Trigger,
    step,
)
from statemachine.core import machine as machine_module
from statemachine.core.errors import InvalidArgument, StateMachineError
from statemachine.core.table import _validate
from statemachine.testing import EPOCH


def broken(change: dict[State, dict[Trigger, State]]) -> dict[State, dict[Trigger, State]]:
    table = {state: dict(row) for state, row in TRANSITIONS.items()}
    table.update(change)
    return table


BROKEN_TABLES = {
    "terminal with an exit": broken({State.done: {Trigger.cancel: State.iterating}}),
    "no way out": broken(
        {
            State.awaiting_review: {
                Trigger.reject_retry: State.iterating,
                Trigger.cancel: State.iterating,
            }
        }
    ),
    "not cancellable": broken(
        {
            State.iterating: {
                Trigger.iteration_last: State.done,
                Trigger.iteration_reviewed: State.awaiting_review,
                Trigger.iteration_next: State.iterating,
            }
        }
    ),
    "unknown target": broken(
        {State.pending: {Trigger.start: "running", Trigger.cancel: State.cancelled}}  # type: ignore[dict-item]
    ),
}


@pytest.mark.parametrize("table", BROKEN_TABLES.values(), ids=BROKEN_TABLES.keys())
def test_validation_refuses_broken_tables(table: dict[State, dict[Trigger, State]]) -> None:
    """A table with dead ends, exits from terminals or unknown targets fails validation."""
    with pytest.raises(StateMachineError, match="invalid transition table"):
        _validate(table)


def test_validation_refuses_a_missing_state() -> None:
    """Every state needs a row, even terminal ones."""
    table = broken({})
    del table[State.skipped]
    with pytest.raises(StateMachineError, match="states without a row"):
        _validate(table)


def test_the_committed_table_is_valid() -> None:
    """The shipped table passes its own validation (it would not import otherwise)."""
    _validate(TRANSITIONS)


def test_engine_holds_exactly_the_table() -> None:
    """The transitions.Machine built from the table has the same edges, no more, no less."""
    engine = machine_module.engine()
    edges = {
        (State[str(source)], Trigger(name), State[str(transition.dest)])
        for name, event in engine.events.items()
        for source, transitions in event.transitions.items()
        for transition in transitions
    }
    expected = {(s, t, d) for s, row in TRANSITIONS.items() for t, d in row.items()}
    assert edges == expected
    assert set(engine.states) == {state.name for state in State}


def test_engine_is_built_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Applying events never builds a transitions.Machine: the one built at import serves all."""
    assert machine_module.engine() is machine_module.engine()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Machine was built on the hot path")

    monkeypatch.setattr(Machine, "__init__", refuse)
    gate = Gate(name="g", policy=HumanReview())
    for event in (Start(), IterationCompleted(1), IterationCompleted(2), IterationCompleted(3)):
        gate, _ = step(gate, event, EPOCH)
    assert gate.state is State.done


def test_validation_refuses_states_that_cannot_finish() -> None:
    """A state whose every exit leads back to itself can never end: the table is refused."""
    table = broken(
        {State.awaiting_confirmation: {Trigger.confirm: State.awaiting_confirmation,
                                       Trigger.cancel: State.awaiting_confirmation}}
    )  # fmt: skip
    with pytest.raises(StateMachineError, match="states that cannot finish"):
        _validate(table)


def test_validation_needs_every_trigger_described(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each trigger needs its WHEN entry: the docs' table is built from them."""
    from statemachine.core import table as table_module

    monkeypatch.setattr(table_module, "WHEN", {})
    with pytest.raises(StateMachineError, match="WHEN entry"):
        _validate(TRANSITIONS)


def test_resolution_refuses_what_is_not_an_event() -> None:
    """resolve() raises InvalidArgument for an object that is not a gate event."""
    from statemachine.core.table import resolve

    with pytest.raises(InvalidArgument, match="not a gate event"):
        resolve("confirm", Gate(name="g", policy=HumanReview()))  # type: ignore[arg-type]


def test_states_read_well() -> None:
    """States show as State.name, and know whether they are terminal or paused."""
    assert repr(State.awaiting_review) == "State.awaiting_review"
    assert State.awaiting_review.is_paused
    assert not State.awaiting_review.is_terminal
    assert State.skipped.is_terminal
