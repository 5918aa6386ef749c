"""Events a gate accepts: small immutable values.

The decisions (`Confirm`, `Reject`, `Provide`, `Select`, `Edit`, `Retry`, `Skip`), `Timeout`
and `Cancel` come from outside (a human, a clock, an operator); `Start`, `IterationCompleted`,
`IterationFailed` and `Advance` are sent by whatever runs the work (the workflow runtime, or
your own orchestrator when you embed the core).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, TypeAlias, cast

import attrs

from statemachine.core.errors import InvalidArgument, shorten

__all__ = [
    "Advance",
    "Cancel",
    "Confirm",
    "Decision",
    "Edit",
    "Event",
    "IterationCompleted",
    "IterationFailed",
    "Provide",
    "Reject",
    "Retry",
    "Select",
    "Skip",
    "Start",
    "Timeout",
    "json_copy",
    "json_problem",
]

JSON: TypeAlias = Any
"""A value that JSON can carry: None, bool, int, float, str, lists and string-keyed dicts."""


MAX_DEPTH = 200
"""How deeply lists and dicts may nest in a stored value."""
MAX_INT_BITS = 13_000
"""The largest stored integers (about 3,900 digits): Python refuses to turn integers of over
4,300 digits into text, so larger ones could be stored by no store."""


def json_problem(value: object, path: str = "output") -> str | None:
    """Why `value` would not come back unchanged from JSON, or None if it would.

    Tuples, sets, non-string keys, NaN, arbitrary objects, integers of thousands of digits,
    nesting deeper than `MAX_DEPTH` and text that is not valid Unicode (a lone surrogate) are
    refused rather than silently turned into something else on the way through storage.
    """
    found = _json_problem(value, 0)
    return None if found is None else f"{path}{found[0]}{found[1]}"


def _text_problem(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return f" holds {exc.reason} at {exc.start}: stores write UTF-8"
    return None


def _json_problem(value: object, depth: int) -> tuple[str, str] | None:
    """(where inside `value`, what is wrong there), or None: every commit checks the stored
    values, so the path is only put together once a problem is found."""
    kind = type(value)
    if value is None or kind is bool:
        return None
    if kind is str:
        problem = _text_problem(cast(str, value))
        return None if problem is None else ("", problem)
    if kind is int:
        bits = cast(int, value).bit_length()
        return None if bits <= MAX_INT_BITS else ("", f" is an integer of {bits} bits, too long")
    if kind is float:
        finite = math.isfinite(cast(float, value))
        return None if finite else ("", f" is {value!r}, which JSON cannot carry")
    if kind is list or kind is dict:
        if depth >= MAX_DEPTH:
            return "", f" nests lists and dicts deeper than {MAX_DEPTH} levels"
        if kind is list:
            for index, item in enumerate(cast(list[object], value)):
                if found := _json_problem(item, depth + 1):
                    return f"[{index}]{found[0]}", found[1]
            return None
        for key, item in cast(dict[object, object], value).items():
            if type(key) is not str:
                return "", f" has the key {shorten(key)}; JSON object keys are strings"
            if problem := _text_problem(key):
                return "", f" has a key that{problem}"
            if found := _json_problem(item, depth + 1):
                return f"[{shorten(key)}]{found[0]}", found[1]
        return None
    return "", f" is a {kind.__name__}; only None, bool, int, float, str, list and dict are stored"


def json_copy(value: JSON) -> JSON:
    """A copy of a JSON value that shares no list or dict with it (text and numbers are
    immutable, so they are shared): what executors and callers get, so that changing it
    cannot change what is stored."""
    kind = type(value)
    if kind is list:
        return [json_copy(item) for item in value]
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    return value


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


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        names: tuple[object, ...] = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgument(f"expected names (a list of strings), not {shorten(value)}") from None
    if not all(isinstance(name, str) for name in names):
        raise InvalidArgument(f"expected names (a list of strings), not {shorten(value)}")
    return names  # type: ignore[return-value]


def _json_object(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{attribute.name} must be a dict of values, not {shorten(value)}")
    if problem := json_problem(value, attribute.name):
        raise InvalidArgument(problem)


def _text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(f"{attribute.name} must be a string, not {shorten(value)}")


@attrs.frozen(kw_only=True)
class Start:
    """The runtime reached the gate.

    Attributes:
        choice: for a `Condition` or a `Router`, the branch (``"if"``, ``"else"``) or routes
            its evaluator or selector chose, when no human chooses.
    """

    choice: tuple[str, ...] = attrs.field(default=(), converter=_names)


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


@attrs.frozen(kw_only=True)
class Provide:
    """A human gives the values a user input request asks for (which also confirms)."""

    values: dict[str, JSON] = attrs.field(validator=_json_object)
    request_id: str | None = attrs.field(default=None, validator=_str_or_none)
    decided_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)


@attrs.frozen(kw_only=True)
class Select:
    """A human selects the route(s) a `Router` takes, in the order they run."""

    choices: tuple[str, ...] = attrs.field(converter=_names)
    request_id: str | None = attrs.field(default=None, validator=_str_or_none)
    decided_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)


@attrs.frozen(kw_only=True)
class Edit:
    """A human accepts the output under review, changed: `output` flows on instead."""

    output: JSON = attrs.field(validator=_json_value)
    request_id: str | None = attrs.field(default=None, validator=_str_or_none)
    decided_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)


@attrs.frozen(kw_only=True)
class Retry:
    """A human has a failed step run again."""

    request_id: str | None = attrs.field(default=None, validator=_str_or_none)
    decided_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)


@attrs.frozen(kw_only=True)
class Skip:
    """A human has a failed step skipped: the workflow goes on without its output."""

    request_id: str | None = attrs.field(default=None, validator=_str_or_none)
    decided_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)


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
    review: bool = True
    """With output review by a predicate: whether this output is to be reviewed."""


@attrs.frozen
class IterationFailed:
    """The current iteration raised: `error` is its text (`on_error` decides what follows)."""

    error: str = attrs.field(validator=_text)


@attrs.frozen
class Advance:
    """One step inside a `Steps`, `Condition` or `Router` finished: the next one is due."""


Decision: TypeAlias = Confirm | Reject | Provide | Select | Edit | Retry | Skip
Event: TypeAlias = (
    Start | Decision | Timeout | Cancel | IterationCompleted | IterationFailed | Advance
)
