"""`@pause`: human gates declared on the executor function itself, as the peer framework's
decorator does. A `Step` built from the function (or the function given as a step) takes
them as defaults for what it does not say itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from statemachine.core.policy import UserInputField

__all__ = ["PAUSE_KEYS", "pause", "paused_with"]

F = TypeVar("F", bound=Callable[..., Any])

PAUSE_KEYS = (
    "requires_confirmation",
    "confirmation_message",
    "requires_user_input",
    "user_input_message",
    "user_input_schema",
)
_ATTRIBUTE = "__statemachine_pause__"


def pause(
    name: str | None = None,
    requires_confirmation: bool = False,
    confirmation_message: str | None = None,
    requires_user_input: bool = False,
    user_input_message: str | None = None,
    user_input_schema: Sequence[UserInputField | dict[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Mark an executor function with the human gates of the step that runs it (and, with
    `name`, the step's name when the function is given as a step)."""

    def decorator(function: F) -> F:
        settings = {
            "name": name,
            "requires_confirmation": requires_confirmation,
            "confirmation_message": confirmation_message,
            "requires_user_input": requires_user_input,
            "user_input_message": user_input_message,
            "user_input_schema": user_input_schema,
        }
        setattr(function, _ATTRIBUTE, settings)
        return function

    return decorator


def paused_with(executor: object) -> dict[str, Any]:
    """What `@pause` said on `executor` (empty when it is not decorated)."""
    settings = getattr(executor, _ATTRIBUTE, None)
    return dict(settings) if isinstance(settings, dict) else {}
