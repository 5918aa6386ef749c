"""What a human gate asks for: confirmation, input, review, and what rejections, errors and
timeouts do."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from statemachine.core.errors import DefinitionError, shorten
from statemachine.core.events import JSON, json_problem

__all__ = [
    "FIELD_TYPES",
    "MAX_TIMEOUT_SECONDS",
    "HumanReview",
    "OnError",
    "OnReject",
    "OnTimeout",
    "UserInputField",
    "input_problems",
    "user_input_fields",
]

MAX_TIMEOUT_SECONDS = 100 * 365.25 * 24 * 3600
"""The longest timeout a pause may have: a century. Longer ones are refused when the policy is
defined, where before the pause itself failed; for longer waits, use no timeout."""


# The enums are `str` enums, as the peer framework's are: a member equals its value
# (``OnReject.skip == "skip"``), so code comparing with strings keeps working.


class OnReject(enum.StrEnum):
    """What a rejection does."""

    skip = "skip"
    """End the gate as `skipped`; the workflow goes on with the next step."""
    cancel = "cancel"
    """End the gate as `cancelled` and cancel the whole run."""
    retry = "retry"
    """Run again with the reviewer's feedback (a Router asks for a new route first); skips
    when no try is left."""
    else_branch = "else"
    """A `Condition`'s confirmation only: run its ``else_steps``."""


class OnTimeout(enum.StrEnum):
    """What happens when a pause reaches its deadline with no decision."""

    approve = "approve"
    """As if the human confirmed (a pause that needs input, a route or an error decision
    cannot be approved without one: it is skipped)."""
    reject = "reject"
    """As if the human rejected without feedback (then `on_reject` applies)."""
    skip = "skip"
    """End the gate as `skipped`."""
    cancel = "cancel"
    """End the gate as `cancelled` and cancel the whole run."""


class OnError(enum.StrEnum):
    """What a step's failure does (after its executor's own retries)."""

    fail = "fail"
    """The run fails with the error; `continue_run` (or a worker) tries the step again."""
    skip = "skip"
    """End the step as `skipped`, with the error kept in the history; the run goes on."""
    pause = "pause"
    """Pause for a human: retry the step, or skip it."""


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


def _on_error(value: object) -> OnError:
    return _member(OnError, value)


def _optional_str(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise DefinitionError(f"{attribute.name} must be a string or None, not {shorten(value)}")


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
            f"{attribute.name} must be a positive number of seconds, at most a century "
            f"({MAX_TIMEOUT_SECONDS:.0f}), or None, not {value!r}"
        )


FIELD_TYPES = frozenset({"str", "text", "int", "float", "bool", "list", "dict"})
"""The types a user input field may have ("text" is "str")."""


def _field_name(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise DefinitionError(f"a user input field needs a name of 1-200 characters, not {value!r}")


def _field_type(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in FIELD_TYPES:
        raise DefinitionError(
            f"field_type must be one of {', '.join(sorted(FIELD_TYPES))}, not {value!r}"
        )


def _allowed(value: object) -> tuple[JSON, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise DefinitionError(f"allowed_values must be a list of values, not {value!r}")
    allowed = tuple(value)
    if problem := json_problem(list(allowed), "allowed_values"):
        raise DefinitionError(problem)
    return allowed


@attrs.frozen(kw_only=True)
class UserInputField:
    """One value a human is asked for, as the peer framework's `UserInputField`.

    Attributes:
        name: the key the value is given under (``set_user_input(name=value)``).
        field_type: ``str`` (or ``text``), ``int``, ``float``, ``bool``, ``list`` or ``dict``.
        required: whether the value must be given (not None, not empty text).
        allowed_values: the values allowed, if only some are.
    """

    name: str = attrs.field(validator=_field_name)
    field_type: str = attrs.field(default="str", validator=_field_type)
    description: str | None = attrs.field(default=None, validator=_optional_str)
    required: bool = attrs.field(default=True, validator=_flag)
    allowed_values: tuple[JSON, ...] | None = attrs.field(default=None, converter=_allowed)


def _field(value: object) -> UserInputField:
    if isinstance(value, UserInputField):
        return value
    if isinstance(value, dict):
        unknown = set(value) - {"name", "field_type", "description", "required", "allowed_values"}
        if unknown:
            raise DefinitionError(f"user input field {value!r}: unknown keys {sorted(unknown)}")
        return UserInputField(**value)
    raise DefinitionError(f"a user input field must be a UserInputField or a dict, not {value!r}")


def user_input_fields(value: object) -> tuple[UserInputField, ...]:
    """`value` (UserInputField objects or dicts of their fields, or None) as a schema.

    Raises:
        DefinitionError: an entry is neither, or a field is named twice.
    """
    if value is None or value == ():
        return ()
    if isinstance(value, str | dict) or not isinstance(value, Iterable):
        raise DefinitionError(f"user_input_schema must be a list of fields, not {value!r}")
    fields = tuple(_field(each) for each in value)
    names = [field.name for field in fields]
    if len(set(names)) != len(names):
        raise DefinitionError(f"user_input_schema names a field twice: {names}")
    return fields


def _review_flag(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool) and not callable(value):
        raise DefinitionError(
            f"{attribute.name} must be True, False or a predicate on the output, not {value!r}"
        )


def _names(value: object) -> tuple[str, ...]:
    """A list of actor or group names, as a tuple."""
    if type(value) is tuple and not value:
        return value  # the default, on every policy built: nothing to check
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise DefinitionError(f"expected a list of names, not {value!r}")
    if not all(isinstance(name, str) and name for name in value):
        raise DefinitionError(f"names must be non-empty strings, not {value!r}")
    return tuple(value)


def _retries(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or not 0 <= value <= 10_000:
        raise DefinitionError(f"max_retries must be an integer from 0 to 10,000, not {value!r}")


@attrs.frozen(kw_only=True)
class HumanReview:
    """Where a gate pauses for a human, and what the human's answers (or silence) do.

    The field names are those of the peer framework's `HumanReview`. Enum fields also accept
    their values as strings (``on_reject="retry"``).

    Attributes:
        requires_user_input: pause before the step for values (`user_input_schema`); on a
            Router, for the human to select the route.
        requires_output_review: True, or a predicate ``fn(step_output) -> bool`` the runtime
            asks after each run (the machine sees only whether this output is reviewed).
        on_error: what a failure of the step does.
        max_retries: how many times a rejected step (or route) runs again with
            ``on_reject="retry"``; a Loop uses its ``max_iterations`` instead.

    Raises:
        DefinitionError: a field has a value of the wrong type or out of range, or both output
            and iteration review are asked for.
    """

    requires_confirmation: bool = attrs.field(default=False, validator=_flag)
    confirmation_message: str | None = attrs.field(default=None, validator=_optional_str)
    requires_user_input: bool = attrs.field(default=False, validator=_flag)
    user_input_message: str | None = attrs.field(default=None, validator=_optional_str)
    user_input_schema: tuple[UserInputField, ...] = attrs.field(
        default=(), converter=user_input_fields
    )
    requires_iteration_review: bool = attrs.field(default=False, validator=_flag)
    iteration_review_message: str | None = attrs.field(default=None, validator=_optional_str)
    requires_output_review: bool | Callable[..., Any] = attrs.field(
        default=False, validator=_review_flag
    )
    output_review_message: str | None = attrs.field(default=None, validator=_optional_str)
    on_reject: OnReject = attrs.field(default=OnReject.skip, converter=_on_reject)
    on_error: OnError = attrs.field(default=OnError.fail, converter=_on_error)
    max_retries: int = attrs.field(default=3, validator=_retries)
    timeout: float | None = attrs.field(default=None, validator=_timeout)
    """Seconds a pause waits for a decision before `on_timeout` applies; None waits forever."""
    on_timeout: OnTimeout = attrs.field(default=OnTimeout.cancel, converter=_on_timeout)
    assignees: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Who may decide (by the `by` a decision carries); with `candidate_groups`, anyone in one
    of those groups too. Empty (with no groups): anyone."""
    candidate_groups: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Groups whose members may decide (the groups a decision's caller says its actor is in)."""
    forbid_self_approval: bool = attrs.field(default=False, validator=_flag)
    """The run's own starter (its `user_id`) may not confirm or edit its requests."""
    remind_after: float | None = attrs.field(default=None, validator=_timeout)
    """Seconds after a request is made at which the `on_pause` hooks are reminded of it, if it
    is still pending."""
    escalate_after: float | None = attrs.field(default=None, validator=_timeout)
    """Seconds after a request is made from which `escalate_to` may decide it too; the hooks
    are told, and the escalation is recorded in the run."""
    escalate_to: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Who may decide once the request is escalated."""

    def __attrs_post_init__(self) -> None:
        if bool(self.escalate_to) != (self.escalate_after is not None):
            raise DefinitionError("escalate_after and escalate_to go together")
        if self.requires_iteration_review and self.requires_output_review is not False:
            raise DefinitionError(
                "requires_output_review and requires_iteration_review cannot both be set"
            )

    @property
    def reviews_iterations(self) -> bool:
        """Whether a finished iteration pauses for review (perhaps: see `requires_output_review`).

        A `Step` gate is a loop of one iteration whose output review is the iteration review.
        """
        return self.requires_iteration_review or self.requires_output_review is not False

    @property
    def review_message(self) -> str | None:
        """The message shown with a review request."""
        return (
            self.iteration_review_message
            if self.requires_iteration_review
            else self.output_review_message
        )

    @property
    def is_human(self) -> bool:
        """Whether a human may ever be asked something (a pause, or an error to decide)."""
        return (
            self.requires_confirmation
            or self.requires_user_input
            or self.reviews_iterations
            or self.on_error is OnError.pause
        )


_CHECKS: dict[str, Callable[[object], bool]] = {
    "str": lambda value: isinstance(value, str),
    "text": lambda value: isinstance(value, str),
    "int": lambda value: type(value) is int,
    "float": lambda value: type(value) in (int, float),
    "bool": lambda value: type(value) is bool,
    "list": lambda value: type(value) is list,
    "dict": lambda value: type(value) is dict,
}


def input_problems(schema: tuple[UserInputField, ...], values: dict[str, JSON]) -> list[str]:
    """What is wrong with `values` as the answer to `schema`, field by field: a required
    field missing or empty, a value of the wrong type or not among the allowed ones, a value
    for no field. Without a schema, any values are accepted."""
    if not schema:
        return []
    problems = []
    known = {field.name for field in schema}
    for name in values:
        if name not in known:
            problems.append(f"there is no field {name!r}")
    for field in schema:
        value = values.get(field.name)
        if value is None or value == "":
            if field.required:
                problems.append(f"{field.name!r} is required")
            continue
        if not _CHECKS[field.field_type](value):
            article = "an" if field.field_type == "int" else "a"
            problems.append(f"{field.name!r} must be {article} {field.field_type}, not {value!r}")
        elif field.allowed_values is not None and not any(
            type(value) is type(allowed) and value == allowed for allowed in field.allowed_values
        ):
            problems.append(f"{field.name!r} must be one of {list(field.allowed_values)!r}")
    return problems
