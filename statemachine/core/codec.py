"""Records to JSON and back, through one cattrs converter that this library owns.

The wire format is pinned by golden-file tests. Every document carries ``schema_version``;
a reader refuses versions it does not know instead of guessing, and reads the versions before
its own (version 1 lacks the answers of a run and the creation time of a request, which
decode as empty, as do the session and user of runs stored before they were kept). Decoding
is strict: no extra keys, no strings where numbers belong, no naive datetimes, no records the
machine could not have produced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Final, TypeVar

from statemachine.core.errors import (
    CodecError,
    InvalidArgument,
    MalformedRecord,
    RunTooLarge,
    SchemaVersionError,
)
from statemachine.core.events import JSON, _json_problem
from statemachine.core.policy import HumanReview
from statemachine.core.record import Answer, Gate, RunRecord, StepResult, Transition

if TYPE_CHECKING:
    from cattrs.preconf.json import JsonConverter

__all__ = ["MAX_RUN_BYTES", "SCHEMA_VERSION", "converter", "dumps", "encode_run", "loads"]

SCHEMA_VERSION: Final = 2
"""The version of the wire format this library writes; it also reads every earlier one."""
_READS: Final = frozenset({1, 2})

MAX_RUN_BYTES: Final = 16 * 1024 * 1024
"""The default limit on one run's encoded snapshot (every store's `max_run_bytes`)."""

R = TypeVar("R")

_RECORD_TYPES: Final[frozenset[type]] = frozenset({Gate, RunRecord})

_REMEMBERED: Final = 16_384  # entries per cache: a few MB at most


def _exact(kind: type) -> Any:
    def structure(value: object, _: type) -> object:
        # bool is an int subclass, and cattrs would turn "5" into 5 and 5.7 into 5.
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {value!r}")
        return value

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


def _unstructure_transition(entry: Transition) -> tuple[object, ...]:
    # History entries repeat for every transition: a flat array keeps each under 100 bytes.
    row = (entry.version, _moment(entry.at)[1:-1], entry.name, entry.event, entry.state)
    return row if entry.decision_id is None else (*row, entry.decision_id)


def _unstructure_answer(answer: Answer) -> list[object]:
    # [request_id, how, decision_id, digest, deadline], trailing nulls left out.
    deadline = None if answer.deadline is None else _moment(answer.deadline)[1:-1]
    row: list[object] = [answer.request_id, answer.how, answer.decision_id, answer.digest, deadline]
    while row[-1] is None:
        row.pop()
    return row


def _structure_answer(value: object, _: type) -> Answer:
    if type(value) is not list or not 2 <= len(value) <= 5:
        raise TypeError(f"expected an answer [request_id, how, ...], got {value!r}")
    request_id, how, *rest = value
    decision_id, digest, deadline = [*rest, None, None, None][:3]
    if not all(type(v) is str for v in (request_id, how)) or not all(
        v is None or type(v) is str for v in (decision_id, digest, deadline)
    ):
        raise TypeError(f"malformed answer {value!r}")
    moment = None if deadline is None else _aware_datetime(deadline, datetime)
    return Answer(request_id, how, decision_id, digest, moment)


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
        if len(_decoded) >= _REMEMBERED:
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
    built.register_unstructure_hook(Transition, _unstructure_transition)
    built.register_structure_hook(Transition, _structure_transition)
    built.register_unstructure_hook(Answer, _unstructure_answer)
    built.register_structure_hook(Answer, _structure_answer)
    for kind in (int, str, bool):
        built.register_structure_hook(kind, _exact(kind))
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
    ):
        _list_only(built, sequence)
    return built


def _storable(value: JSON, where: str) -> str:
    """`value` as JSON text, or `CodecError` naming what in it JSON would alter on the way
    through (tuples, NaN, objects, ...)."""
    found = _json_problem(value, 0)
    if found is not None:
        raise CodecError(f"cannot encode {where}{found[0]}{found[1]}")
    return _json(value)


# Encoding writes the JSON text directly: every commit encodes the whole run, and going through
# cattrs' unstructured dicts took twice as long. A property test holds this text equal to
# `json.dumps(converter().unstructure(record))`, the format's definition.
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_text = json.encoder.encode_basestring


def _optional_text(value: str | None) -> str:
    return "null" if value is None else _text(value)


def _moment(value: datetime | None) -> str:
    if value is None:
        return "null"
    if value.utcoffset() is None:  # it could be written, and never read back
        raise CodecError(
            f"cannot encode the naive datetime {value!r}: times are stored with UTC offsets"
        )
    return f'"{value.isoformat()}"'


# Encoded texts of values that never change and recur in every commit of a run (its workflow's
# policies, its history entries, its input, and its gates and results until they change), by
# identity: holding the value keeps its id from being reused. Records are immutable, and the
# runtime never changes the JSON values in them (executors and callers get copies), so a
# commit encodes only what it changed.
_remembered: dict[int, tuple[object, str]] = {}


def _remember(value: Any, encode: Callable[[Any], str]) -> str:
    hit = _remembered.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    if len(_remembered) >= _REMEMBERED:
        _remembered.clear()
    text = encode(value)
    _remembered[id(value)] = (value, text)
    return text


def _array(values: tuple[Any, ...]) -> str:
    return _json(values) if values else "[]"


def _policy_json(policy: HumanReview) -> str:
    return _json(converter().unstructure(policy))  # remembered per policy: off the hot path


def _transition_json(entry: Transition) -> str:
    return _json(_unstructure_transition(entry))


def _gate_json(gate: Gate) -> str:
    request = gate.request
    pending = (
        "null"
        if request is None
        else f'{{"request_id":{_text(request.request_id)},"kind":"{request.kind.value}",'
        f'"message":{_optional_text(request.message)},"deadline":{_moment(request.deadline)},'
        f'"created_at":{_moment(request.created_at)}}}'
    )
    outputs = ",".join([_remember(output, _output_json) for output in gate.outputs])
    return (
        f'{{"name":{_text(gate.name)},'
        f'"policy":{_remember(gate.policy, _policy_json)},'
        f'"max_iterations":{gate.max_iterations},"state":"{gate.state.value}",'
        f'"iteration":{gate.iteration},"request":{pending},'
        f'"feedback":{_remember(gate.feedback, _array)},'
        f'"outputs":[{outputs}],"version":{gate.version}}}'
    )


def _output_json(output: JSON) -> str:
    return _storable(output, "an output")


def _result_json(result: StepResult) -> str:
    content = _storable(result.content, f"results[{result.name!r}]")
    return f'{{"name":{_text(result.name)},"content":{content}}}'


def _input_json(value: JSON) -> str:
    return _storable(value, "input")


def _answer_json(answer: Answer) -> str:
    return _json(_unstructure_answer(answer))


def _run_json(run: RunRecord) -> str:
    if type(run.version) is not int or type(run.attempts) is not int:
        raise CodecError(f"run {run.run_id!r}: version and attempts must be integers")
    gates = ",".join([_remember(gate, _gate_json) for gate in run.gates])
    results = ",".join([_remember(result, _result_json) for result in run.results])
    history = ",".join([_remember(entry, _transition_json) for entry in run.history])
    answers = ",".join([_remember(answer, _answer_json) for answer in run.answers])
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"run_id":{_text(run.run_id)},'
        f'"workflow":{_text(run.workflow)},"fingerprint":{_text(run.fingerprint)},'
        f'"session_id":{_optional_text(run.session_id)},"user_id":{_optional_text(run.user_id)},'
        f'"status":"{run.status.value}","input":{_remember(run.input, _input_json)},'
        f'"cursor":{_optional_text(run.cursor)},"outline":{_remember(run.outline, _array)},'
        f'"gates":[{gates}],"results":[{results}],'
        f'"error":{_optional_text(run.error)},"attempts":{run.attempts},'
        f'"retry_at":{_moment(run.retry_at)},"history":[{history}],"answers":[{answers}],'
        f'"created_at":{_remember(run.created_at, _moment)},"updated_at":{_moment(run.updated_at)},'
        f'"version":{run.version}}}'
    )


def dumps(record: Any) -> str:
    """Encode a record (a `Gate` or a `RunRecord`) as a JSON document.

    Raises:
        CodecError: the record holds a value JSON cannot carry (an object, NaN, infinity, a
            string with a lone surrogate, an integer of thousands of digits, nesting deeper
            than `MAX_DEPTH`, a naive datetime).
        InvalidArgument: `record` is not a record type of this library.
    """
    text = _document(record)
    _utf8(text, record)
    return text


def encode_run(run: RunRecord, max_bytes: int | None = MAX_RUN_BYTES) -> bytes:
    """The run as stores write it: `dumps` as UTF-8, refused when over `max_bytes`.

    Raises:
        RunTooLarge: the encoded run is over `max_bytes`.
        CodecError, InvalidArgument: as `dumps`.
    """
    data = _utf8(_document(run), run)
    if max_bytes is not None and len(data) > max_bytes:
        raise RunTooLarge(run.run_id, len(data), max_bytes)
    return data


def _document(record: Any) -> str:
    if type(record) not in _RECORD_TYPES:
        raise InvalidArgument(f"not a record this codec writes: {type(record).__name__}")
    try:
        if type(record) is RunRecord:
            return _run_json(record)
        return f'{{"schema_version":{SCHEMA_VERSION},{_gate_json(record)[1:]}'
    except CodecError:
        raise
    except (ValueError, RecursionError, AttributeError, TypeError) as exc:
        # A field the record's own checks leave to the codec (a text, a time) holds the wrong
        # kind of value: refused here, before a store writes a document it could not read.
        raise CodecError(f"cannot encode {type(record).__name__}: {exc}") from exc


def _utf8(text: str, record: Gate | RunRecord) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate in some text
        raise CodecError(f"cannot encode {type(record).__name__}: {exc}") from exc


def loads(data: str | bytes, kind: type[R]) -> R:
    """Decode a JSON document written by `dumps` (of this schema version or an earlier one)
    into a record of type `kind`.

    Raises:
        SchemaVersionError: the document's schema version is missing or unknown.
        MalformedRecord: the data is not JSON, not UTF-8, or not a valid record of that type.
        InvalidArgument: `kind` is not a record type of this library.
    """
    if kind not in _RECORD_TYPES:
        raise InvalidArgument(f"not a record this codec reads: {kind!r}")
    try:
        document = json.loads(data)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedRecord(f"not a JSON document: {exc}") from exc
    except RecursionError:
        raise MalformedRecord("not a record: its JSON nests too deeply to read") from None
    if not isinstance(document, dict):
        raise MalformedRecord(f"expected a JSON object, got {type(document).__name__}")
    version = document.pop("schema_version", None)
    if type(version) is not int or version not in _READS:
        raise SchemaVersionError(version, SCHEMA_VERSION)
    import cattrs

    try:
        return converter().structure(document, kind)
    except cattrs.BaseValidationError as exc:  # it wraps every error raised while structuring
        reasons = "; ".join(cattrs.transform_error(exc, path=kind.__name__))
        raise MalformedRecord(f"not a valid {kind.__name__}: {reasons}") from exc
