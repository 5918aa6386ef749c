"""The wire format's definition: the library's own cattrs converter and its hooks.

`converter().unstructure(record)`, as JSON, is the format; `codec` reads through it, and its
fast writer is held equal to it by a property test. History entries and answers are written
as flat arrays (they repeat in every run); version 3's fields are left out while they hold
their defaults.
"""

from __future__ import annotations

import enum
import math
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Final, cast

from statemachine.core.errors import CodecError
from statemachine.core.events import JSON
from statemachine.core.outbox import Notice
from statemachine.core.policy import HumanReview, OnError, OnReject, OnTimeout, UserInputField
from statemachine.core.record import (
    Answer,
    Gate,
    RequestKind,
    RunRecord,
    StepResult,
    Transition,
)

if TYPE_CHECKING:
    from cattrs.preconf.json import JsonConverter

__all__ = [
    "REMEMBERED",
    "converter",
    "exact",
    "moment",
    "unstructure_answer",
    "unstructure_transition",
]

REMEMBERED: Final = 16_384
"""Entries per cache of encoded or decoded values: a few MB at most."""


def exact(kind: type) -> Any:
    def structure(value: object, _: type) -> object:
        # bool is an int subclass, and cattrs would turn "5" into 5 and 5.7 into 5.
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {value!r}")
        return value

    return structure


def _member(kind: type[enum.StrEnum]) -> Any:
    def structure(value: object, _: type) -> object:
        if type(value) is not str:
            raise TypeError(f"expected a {kind.__name__} value, got {value!r}")
        return kind(value)

    return structure


def _number(value: object, _: type) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise TypeError(f"expected a finite number, got {value!r}")
    return value  # type: ignore[return-value]


def _aware_datetime(value: object, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise ValueError(f"datetime {value!r} has no UTC offset")
    return parsed


def _list_only(converter: JsonConverter, kind: Any) -> None:
    structure_items = converter.get_structure_hook(kind)

    def structure(value: object, _: type) -> object:
        # A JSON string is iterable too: without this, "abc" would become ("a", "b", "c").
        if type(value) is not list:
            raise TypeError(f"expected a list, got {value!r}")
        return structure_items(value, kind)

    converter.register_structure_hook_func(lambda candidate: candidate == kind, structure)


def unstructure_transition(entry: Transition) -> tuple[object, ...]:
    # History entries repeat for every transition: a flat array keeps each under 100 bytes.
    row = (entry.version, moment(entry.at)[1:-1], entry.name, entry.event, entry.state)
    return row if entry.decision_id is None else (*row, entry.decision_id)


_ANSWER_ROW: Final = 9  # [request_id, how, decision_id, digest, deadline, by, at, value, via]


def unstructure_answer(answer: Answer) -> list[object]:
    # One array per answer, trailing nulls left out: most answers are a few short strings.
    deadline = None if answer.deadline is None else moment(answer.deadline)[1:-1]
    at = None if answer.at is None else moment(answer.at)[1:-1]
    row: list[object] = [
        answer.request_id, answer.how, answer.decision_id, answer.digest, deadline, answer.by,
        at, answer.value, answer.via,
    ]  # fmt: skip
    while row[-1] is None:
        row.pop()
    return row


def _structure_answer(value: object, _: type) -> Answer:
    if type(value) is not list or not 2 <= len(value) <= _ANSWER_ROW:
        raise TypeError(f"expected an answer [request_id, how, ...], got {value!r}")
    request_id, how, *rest = value
    decision_id, digest, deadline, by, at, carried, via = [*rest, *[None] * 7][:7]
    if not all(type(v) is str for v in (request_id, how)) or not all(
        v is None or type(v) is str for v in (decision_id, digest, deadline, by, at, via)
    ):
        raise TypeError(f"malformed answer {value!r}")
    moment = None if deadline is None else _aware_datetime(deadline, datetime)
    when = None if at is None else _aware_datetime(at, datetime)
    return Answer(request_id, how, decision_id, digest, moment, by, when, carried, via)


# History entries decoded, by their stored row. A run is read again and again (by every
# worker unit, every decision), its history with it: an entry read before is the same object,
# so it is neither parsed nor, when the run is written back, encoded again (see `_remember`).
_decoded: dict[tuple[object, ...], Transition] = {}


def _structure_transition(value: object, _: type) -> Transition:
    if type(value) is not list or len(value) not in (5, 6):
        raise TypeError(
            f"expected a history entry [version, at, name, event, state], got {value!r}"
        )
    version, at, name, event, state, *decision = value
    if type(version) is not int or not all(
        type(v) is str for v in (at, name, event, state, *decision)
    ):
        raise TypeError(f"malformed history entry {value!r}")
    row = tuple(value)
    entry = _decoded.get(row)
    if entry is None:
        entry = Transition(version, _aware_datetime(at, datetime), name, event, state, *decision)
        if len(_decoded) >= REMEMBERED:
            _decoded.clear()
        _decoded[row] = entry
    return entry


@cache
def converter() -> JsonConverter:
    """The library's cattrs converter, built on first use (cattrs costs import time that
    workflows on the memory store never need). Never cattrs' global converter: users may
    configure that as they like."""
    from cattrs.preconf.json import make_converter

    built = make_converter(forbid_extra_keys=True)
    built.register_unstructure_hook(Transition, unstructure_transition)
    built.register_structure_hook(Transition, _structure_transition)
    built.register_unstructure_hook(Answer, unstructure_answer)
    built.register_structure_hook(Answer, _structure_answer)
    for kind in (int, str, bool):
        built.register_structure_hook(kind, exact(kind))
    for named in (RequestKind, OnReject, OnTimeout, OnError):
        # str enums: the str hook above would otherwise take them, and keep the plain string
        built.register_structure_hook(named, _member(named))
    built.register_structure_hook(float, _number)
    built.register_structure_hook(datetime, _aware_datetime)
    for sequence in (
        tuple[str | None, ...],
        tuple[JSON, ...],
        tuple[Gate, ...],
        tuple[StepResult, ...],
        tuple[Transition, ...],
        tuple[Answer, ...],
        tuple[tuple[str, str], ...],
        tuple[str, str],
        tuple[str, ...],
        tuple[UserInputField, ...],
        tuple[Notice, ...],
    ):
        _list_only(built, sequence)
    _register_new_fields(built)  # last: the functions it makes take the hooks above
    return built


_GATE_V3: Final = (
    "choices", "multiple", "members", "round", "choice", "position", "values", "edited",
    "edited_output",
)  # fmt: skip
_POLICY_V3: Final = (
    "requires_user_input", "user_input_message", "user_input_schema", "on_error", "max_retries",
    "assignees", "candidate_groups", "forbid_self_approval", "remind_after", "escalate_after",
    "escalate_to",
)  # fmt: skip


def _register_new_fields(built: JsonConverter) -> None:
    """Fields added since version 2 are left out while they hold their defaults; a predicate for
    output review is stored as True (the definition keeps the predicate)."""
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    flag = override(unstruct_hook=lambda value: value if isinstance(value, bool) else True)
    policy = {name: override(omit_if_default=True) for name in _POLICY_V3}
    built.register_unstructure_hook(
        HumanReview,
        make_dict_unstructure_fn(
            HumanReview, built, requires_output_review=flag, **cast(dict[str, Any], policy)
        ),
    )
    built.register_structure_hook(
        HumanReview,
        make_dict_structure_fn(
            HumanReview,
            built,
            _cattrs_forbid_extra_keys=True,
            requires_output_review=override(struct_hook=exact(bool)),
        ),
    )
    # after the policy's hooks: Gate's function takes the policy's hook as it is made
    omitted = {name: override(omit_if_default=True) for name in _GATE_V3}
    built.register_unstructure_hook(
        Gate, make_dict_unstructure_fn(Gate, built, **cast(dict[str, Any], omitted))
    )
    # after the gate's: the run's function takes it; a traceback only where there is one
    built.register_unstructure_hook(
        RunRecord,
        make_dict_unstructure_fn(
            RunRecord,
            built,
            traceback=cast(Any, override(omit_if_default=True)),
            outbox=cast(Any, override(omit_if_default=True)),
        ),
    )


# The last time written, and its text: one change stamps the run, its history entry, its
# request and its answer with the same `datetime` object. Datetimes are immutable, and the
# pair is replaced as a whole, so a hit is always the text of that very object.
_last_moment: tuple[datetime | None, str] = (None, "null")


def moment(value: datetime | None) -> str:
    """A time as JSON text: an ISO 8601 string with its offset, or null."""
    global _last_moment
    if value is None:
        return "null"
    last = _last_moment
    if value is last[0]:
        return last[1]
    if value.utcoffset() is None:  # it could be written, and never read back
        raise CodecError(
            f"cannot encode the naive datetime {value!r}: times are stored with UTC offsets"
        )
    text = f'"{value.isoformat()}"'
    _last_moment = (value, text)
    return text
