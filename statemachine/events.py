"""Events a gate accepts: small immutable values.

`Confirm`, `Reject`, `Timeout` and `Cancel` come from outside (a human, a clock, an operator);
`Start` and `IterationCompleted` are sent by whatever runs the work (the workflow runtime, or
your own orchestrator when you embed the core).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, TypeAlias, cast

import attrs

from .errors import InvalidArgument

__all__ = [
    "Cancel",
    "Confirm",
    "Decision",
    "Event",
    "IterationCompleted",
    "Reject",
    "Start",
    "Timeout",
]

JSON: TypeAlias = Any
"""A value that JSON can carry: None, bool, int, float, str, lists and string-keyed dicts."""


def json_problem(value: object, path: str = "output") -> str | None:
    """Why `value` would not come back unchanged from JSON, or None if it would.

    Tuples, sets, non-string keys, NaN and arbitrary objects are refused rather than silently
    turned into something else on the way through storage.
    """
    found = _json_problem(value)
    return None if found is None else f"{path}{found[0]}{found[1]}"


def _json_problem(value: object) -> tuple[str, str] | None:
    """(where inside `value`, what is wrong there), or None: every commit checks the stored
    values, so the path is only put together once a problem is found."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return None
    if kind is float:
        finite = math.isfinite(cast(float, value))
        return None if finite else ("", f" is {value!r}, which JSON cannot carry")
    if kind is list:
        for index, item in enumerate(cast(list[object], value)):
            if found := _json_problem(item):
                return f"[{index}]{found[0]}", found[1]
        return None
    if kind is dict:
        for key, item in cast(dict[object, object], value).items():
            if type(key) is not str:
                return "", f" has the key {key!r}; JSON object keys are strings"
            if found := _json_problem(item):
                return f"[{key!r}]{found[0]}", found[1]
        return None
    return "", f" is a {kind.__name__}; only None, bool, int, float, str, list and dict are stored"


def _json_value(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if problem := json_problem(value):
        raise InvalidArgument(problem)


def _aware_or_none(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidArgument(f"{attribute.name} must be a timezone-aware datetime, not {value!r}")


def _str_or_none(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgument(f"{attribute.name} must be a string or None, not {value!r}")


@attrs.frozen
class Start:
    """The runtime reached the gate."""


@attrs.frozen(kw_only=True)
class Confirm:
    """A human accepts: start the loop, or keep the output under review.

    Attributes:
        request_id: the pause this decision answers; when given, a decision for an older
            pause is refused with `StaleRequest`.
        decided_at: when the human decided; it is checked against the deadline instead of the
            time the event is applied, so a decision made in time wins even if applied late.
    """

    request_id: str | None = attrs.field(default=None, validator=_str_or_none)
    decided_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)


@attrs.frozen
class Reject:
    """A human rejects, optionally with feedback for the next iteration.

    Attributes:
        feedback: text passed to the next iteration when `on_reject` is retry.
        request_id: as for `Confirm`.
        decided_at: as for `Confirm`.
    """

    feedback: str | None = attrs.field(default=None, validator=_str_or_none)
    request_id: str | None = attrs.field(default=None, kw_only=True, validator=_str_or_none)
    decided_at: datetime | None = attrs.field(default=None, kw_only=True, validator=_aware_or_none)


@attrs.frozen
class Timeout:
    """The pending pause passed its deadline with no decision."""


@attrs.frozen
class Cancel:
    """Stop the gate, and with it the run, whatever it is doing."""


@attrs.frozen
class IterationCompleted:
    """The current iteration finished with `output`.

    Attributes:
        output: the iteration's result, a JSON value (it is stored in the record).
            Anything JSON would not give back unchanged raises `InvalidArgument`.
        should_continue: for loops without iteration review, whether another iteration should
            run (the loop also stops at `max_iterations`). Ignored when a human reviews.
    """

    output: JSON = attrs.field(validator=_json_value)
    should_continue: bool = True


Decision: TypeAlias = Confirm | Reject
Event: TypeAlias = Start | Confirm | Reject | Timeout | Cancel | IterationCompleted
