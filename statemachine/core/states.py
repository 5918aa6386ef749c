"""The seven states of a gate. Their values are part of the public API and the wire format."""

from __future__ import annotations

import enum

__all__ = ["TERMINAL_STATES", "State"]


class State(enum.Enum):
    """Where a gate (a human-gated loop or step) stands."""

    pending = "pending"
    awaiting_confirmation = "awaiting_confirmation"
    iterating = "iterating"
    awaiting_review = "awaiting_review"
    done = "done"
    skipped = "skipped"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the gate has finished and accepts no more events."""
        return self in TERMINAL_STATES

    @property
    def is_paused(self) -> bool:
        """Whether the gate waits for a human decision."""
        return self is State.awaiting_confirmation or self is State.awaiting_review

    def __repr__(self) -> str:
        return f"State.{self.name}"

    # Members are singletons compared by identity; Enum's own __hash__ is Python code, and the
    # hot path hashes states on every event.
    __hash__ = object.__hash__


TERMINAL_STATES: frozenset[State] = frozenset({State.done, State.skipped, State.cancelled})
