"""What a human gate asks for: confirmation, review, and what rejection and timeouts do."""

from __future__ import annotations

import enum
import math
from typing import Any, TypeVar

import attrs

from statemachine.core.errors import DefinitionError

__all__ = ["MAX_TIMEOUT_SECONDS", "HumanReview", "OnReject", "OnTimeout"]

MAX_TIMEOUT_SECONDS = 100 * 365.25 * 24 * 3600
"""The longest timeout a pause may have: a century. Longer ones are refused when the policy is
defined, where before the pause itself failed; for longer waits, use no timeout."""


class OnReject(enum.Enum):
    """What a rejection does."""

    skip = "skip"
    """End the gate as `skipped`; the workflow goes on with the next step."""
    cancel = "cancel"
    """End the gate as `cancelled` and cancel the whole run."""
    retry = "retry"
    """Run another iteration with the reviewer's feedback (skips when none is left)."""


class OnTimeout(enum.Enum):
    """What happens when a pause reaches its deadline with no decision."""

    approve = "approve"
    """As if the human confirmed."""
    reject = "reject"
    """As if the human rejected without feedback (then `on_reject` applies)."""
    skip = "skip"
    """End the gate as `skipped`."""
    cancel = "cancel"
    """End the gate as `cancelled` and cancel the whole run."""


E = TypeVar("E", bound=enum.Enum)


def _member(kind: type[E], value: object) -> E:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise DefinitionError(f"{kind.__name__} must be one of {allowed}, not {value!r}") from None


def _on_reject(value: object) -> OnReject:
    return _member(OnReject, value)


def _on_timeout(value: object) -> OnTimeout:
    return _member(OnTimeout, value)


def _optional_str(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise DefinitionError(f"{attribute.name} must be a string or None, not {value!r}")


def _flag(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise DefinitionError(f"{attribute.name} must be True or False, not {value!r}")


def _timeout(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_TIMEOUT_SECONDS
    ):
        raise DefinitionError(
            "timeout must be a positive number of seconds, at most a century "
            f"({MAX_TIMEOUT_SECONDS:.0f}), or None, not {value!r}"
        )


@attrs.frozen(kw_only=True)
class HumanReview:
    """Where a gate pauses for a human, and what the human's answers (or silence) do.

    The field names are those of the peer framework's `HumanReview`. Enum fields also accept
    their values as strings (``on_reject="retry"``).

    Raises:
        DefinitionError: a field has a value of the wrong type or out of range.
    """

    requires_confirmation: bool = attrs.field(default=False, validator=_flag)
    confirmation_message: str | None = attrs.field(default=None, validator=_optional_str)
    requires_iteration_review: bool = attrs.field(default=False, validator=_flag)
    iteration_review_message: str | None = attrs.field(default=None, validator=_optional_str)
    requires_output_review: bool = attrs.field(default=False, validator=_flag)
    output_review_message: str | None = attrs.field(default=None, validator=_optional_str)
    on_reject: OnReject = attrs.field(default=OnReject.skip, converter=_on_reject)
    timeout: float | None = attrs.field(default=None, validator=_timeout)
    """Seconds a pause waits for a decision before `on_timeout` applies; None waits forever."""
    on_timeout: OnTimeout = attrs.field(default=OnTimeout.cancel, converter=_on_timeout)

    @property
    def reviews_iterations(self) -> bool:
        """Whether each finished iteration pauses for review.

        A `Step` gate is a loop of one iteration whose output review is the iteration review.
        """
        return self.requires_iteration_review or self.requires_output_review

    @property
    def review_message(self) -> str | None:
        """The message shown with a review request."""
        return (
            self.iteration_review_message
            if self.requires_iteration_review
            else self.output_review_message
        )
