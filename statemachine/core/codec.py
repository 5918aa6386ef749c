"""Records to JSON and back, through one cattrs converter that this library owns.

The wire format is pinned by golden-file tests. Every document carries ``schema_version``;
a reader refuses versions it does not know instead of guessing, and reads the versions before
its own (version 1 lacks the answers of a run and the creation time of a request, which
decode as empty, as do the session and user of runs stored before they were kept; version 2
lacks what a gate holds for input, routes, inner steps, edits and errors). Fields added in
version 3 are written only when they differ from their defaults, so a gate that uses none of
them costs nothing more. Decoding is strict: no extra keys, no strings where numbers belong,
no naive datetimes, no records the machine could not have produced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from statemachine.core.errors import (
    CodecError,
    InvalidArgument,
    MalformedRecord,
    RunTooLarge,
    SchemaVersionError,
)
from statemachine.core.events import JSON, _json_problem
from statemachine.core.outbox import Notice
from statemachine.core.policy import HumanReview
from statemachine.core.record import Answer, Gate, RunRecord, StepResult, Transition
from statemachine.core.wire import (
    REMEMBERED,
    converter,
    moment,
    unstructure_answer,
    unstructure_transition,
)

if TYPE_CHECKING:
    pass

__all__ = ["MAX_RUN_BYTES", "SCHEMA_VERSION", "converter", "dumps", "encode_run", "loads"]

SCHEMA_VERSION: Final = 3
"""The version of the wire format this library writes; it also reads every earlier one."""
_READS: Final = frozenset({1, 2, 3})

MAX_RUN_BYTES: Final = 16 * 1024 * 1024
"""The default limit on one run's encoded snapshot (every store's `max_run_bytes`)."""

R = TypeVar("R")

_RECORD_TYPES: Final[frozenset[type]] = frozenset({Gate, RunRecord})


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
    if len(_remembered) >= REMEMBERED:
        _remembered.clear()
    text = encode(value)
    _remembered[id(value)] = (value, text)
    return text


def _joined(values: tuple[Any, ...], encode: Callable[[Any], str]) -> str:
    """The values' remembered texts, comma-separated: `_remember` with its hit inlined, since
    a commit looks up every entry of the run's history."""
    get = _remembered.get
    texts = []
    for value in values:
        hit = get(id(value))
        texts.append(hit[1] if hit is not None and hit[0] is value else _remember(value, encode))
    return ",".join(texts)


def _array(values: tuple[Any, ...]) -> str:
    return _json(values) if values else "[]"


def _policy_json(policy: HumanReview) -> str:
    return _json(converter().unstructure(policy))  # remembered per policy: off the hot path


def _transition_json(entry: Transition) -> str:
    """The converter's row (`unstructure_transition`), written directly where the fields have
    the types the core gives them: through the JSON encoder it took twice as long, once per
    transition."""
    at, name, event, state, decision_id = (
        entry.at, entry.name, entry.event, entry.state, entry.decision_id,
    )  # fmt: skip
    if (
        type(entry.version) is not int
        or type(at) is not datetime
        or type(name) is not str
        or type(event) is not str
        or type(state) is not str
        or (decision_id is not None and type(decision_id) is not str)
    ):
        return _json(unstructure_transition(entry))
    decided = "" if decision_id is None else f",{_text(decision_id)}"
    return f"[{entry.version},{moment(at)},{_text(name)},{_text(event)},{_text(state)}{decided}]"


def _gate_json(gate: Gate) -> str:
    request = gate.request
    pending = (
        "null"
        if request is None
        else f'{{"request_id":{_text(request.request_id)},"kind":"{request.kind.value}",'
        f'"message":{_optional_text(request.message)},"deadline":{moment(request.deadline)},'
        f'"created_at":{moment(request.created_at)}}}'
    )
    outputs = _joined(gate.outputs, _output_json)
    return (
        f'{{"name":{_text(gate.name)},'
        f'"policy":{_remember(gate.policy, _policy_json)},'
        f'"max_iterations":{gate.max_iterations},"state":"{gate.state.value}",'
        f'"iteration":{gate.iteration},"request":{pending},'
        f'"feedback":{_remember(gate.feedback, _array)},'
        f'"outputs":[{outputs}],"version":{gate.version}{_gate_v3(gate)}}}'
    )


def _gate_v3(gate: Gate) -> str:
    """The version 3 fields that differ from their defaults, in field order."""
    parts = []
    if gate.choices:
        parts.append(f',"choices":{_json(gate.choices)}')
    if gate.multiple:
        parts.append(',"multiple":true')
    if gate.members:
        parts.append(f',"members":{_json(gate.members)}')
    if gate.round:
        parts.append(f',"round":{gate.round}')
    if gate.choice:
        parts.append(f',"choice":{_json(gate.choice)}')
    if gate.position:
        parts.append(f',"position":{gate.position}')
    if gate.values is not None:
        parts.append(f',"values":{_storable(gate.values, "user input")}')
    if gate.edited:
        parts.append(',"edited":true')
    if gate.edited_output is not None:
        parts.append(f',"edited_output":{_storable(gate.edited_output, "an edited output")}')
    return "".join(parts)


def _output_json(output: JSON) -> str:
    return _storable(output, "an output")


def _result_json(result: StepResult) -> str:
    content = _storable(result.content, f"results[{result.name!r}]")
    return f'{{"name":{_text(result.name)},"content":{content}}}'


def _input_json(value: JSON) -> str:
    return _storable(value, "input")


def _answer_json(answer: Answer) -> str:
    return _json(unstructure_answer(answer))


def _run_json(run: RunRecord) -> str:
    if type(run.version) is not int or type(run.attempts) is not int:
        raise CodecError(f"run {run.run_id!r}: version and attempts must be integers")
    gates = _joined(run.gates, _gate_json)
    results = _joined(run.results, _result_json)
    history = _joined(run.history, _transition_json)
    answers = _joined(run.answers, _answer_json)
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"run_id":{_text(run.run_id)},'
        f'"workflow":{_text(run.workflow)},"fingerprint":{_text(run.fingerprint)},'
        f'"session_id":{_optional_text(run.session_id)},"user_id":{_optional_text(run.user_id)},'
        f'"status":"{run.status.value}","input":{_remember(run.input, _input_json)},'
        f'"cursor":{_optional_text(run.cursor)},"outline":{_remember(run.outline, _array)},'
        f'"gates":[{gates}],"results":[{results}],'
        f'"error":{_optional_text(run.error)},"attempts":{run.attempts},'
        f'"retry_at":{moment(run.retry_at)},"history":[{history}],"answers":[{answers}],'
        f'"created_at":{_remember(run.created_at, moment)},"updated_at":{moment(run.updated_at)},'
        f'"version":{run.version}{_traceback(run.traceback)}{_outbox(run.outbox)}}}'
    )


def _traceback(text: str | None) -> str:
    """The traceback field, when the run has one (else nothing)."""
    return "" if text is None else f',"traceback":{_text(text)}'


def _outbox(notices: tuple[Notice, ...]) -> str:
    """The outbox field, when the run owes or sent notifications (else nothing)."""
    if not notices:
        return ""
    return f',"outbox":{_json([converter().unstructure(notice) for notice in notices])}'


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
