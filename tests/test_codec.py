"""The codec: the pinned wire format, round trips, and typed errors for everything else."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from statemachine import (
    Advance,
    Answer,
    CodecError,
    Edit,
    Event,
    Gate,
    HumanReview,
    InvalidArgument,
    IterationCompleted,
    IterationFailed,
    MalformedRecord,
    OnReject,
    OnTimeout,
    Provide,
    Reject,
    RunRecord,
    RunTooLarge,
    SchemaVersionError,
    Select,
    Start,
    State,
    StateMachineError,
    StepResult,
    Transition,
    dumps,
    loads,
    step,
)
from statemachine.core.codec import converter, encode_run
from statemachine.core.decisions import Verdict, decide, digest_of
from statemachine.core.record import RunStatus
from statemachine.core.runs import apply_event, expire
from statemachine.testing import EPOCH, event_sequences, gates, json_values
from statemachine.testing.contract import sample_run, touched

GOLDEN = Path(__file__).parent / "golden" / "gate_v3.json"
GOLDEN_V1 = Path(__file__).parent / "golden" / "gate_v1.json"
GOLDEN_V2 = Path(__file__).parent / "golden" / "gate_v2.json"
GOLDEN_RUN = Path(__file__).parent / "golden" / "run_v3.json"
GOLDEN_RUN_V2 = Path(__file__).parent / "golden" / "run_v2.json"
GOLDEN_HITL = Path(__file__).parent / "golden" / "hitl_v3.json"


def golden_gate() -> Gate:
    """A gate paused for its second review, with feedback, outputs and a deadline."""
    policy = HumanReview(
        requires_iteration_review=True,
        iteration_review_message="Review this iteration.",
        on_reject=OnReject.retry,
        timeout=120,
        on_timeout=OnTimeout.approve,
    )
    gate = Gate(name="refinement_loop", policy=policy, max_iterations=5)
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    for event in (
        Start(),
        IterationCompleted({"text": "draft 1", "score": 0.5}),
        Reject("shorter"),
        IterationCompleted({"text": "draft 2", "score": 0.75}),
    ):
        gate, _ = step(gate, event, now)
    return gate


def test_wire_format_is_pinned_by_the_golden_file() -> None:
    """Encoding the reference gate gives exactly the committed bytes, and they decode back to it."""
    text = GOLDEN.read_text(encoding="utf-8").strip()
    assert dumps(golden_gate()) == text
    assert loads(text, Gate) == golden_gate()


def test_the_run_wire_format_is_pinned_with_its_answers() -> None:
    """A run with a decision and a timeout recorded encodes to the committed bytes."""
    text = GOLDEN_RUN.read_text(encoding="utf-8").strip()
    assert dumps(golden_answered_run()) == text
    assert loads(text, RunRecord) == golden_answered_run()


def test_a_run_with_every_kind_of_pause_is_pinned() -> None:
    """Routes, inner steps, user input, an edited output and an error request: the fields of
    version 3 encode to the committed bytes, and decode back."""
    text = GOLDEN_HITL.read_text(encoding="utf-8").strip()
    assert dumps(golden_hitl_run()) == text
    assert loads(text, RunRecord) == golden_hitl_run()


def test_documents_of_schema_version_2_are_still_read() -> None:
    """A gate and a run stored by version 2 decode as they were, with what version 3 adds at
    its defaults (answers without who, when and what)."""
    assert loads(GOLDEN_V2.read_text(encoding="utf-8").strip(), Gate) == golden_gate()
    old = loads(GOLDEN_RUN_V2.read_text(encoding="utf-8").strip(), RunRecord)
    answers = tuple(
        attrs.evolve(answer, digest=digest_of(answer.value), by=None, at=None, value=None)
        for answer in golden_answered_run().answers
    )
    assert old == attrs.evolve(golden_answered_run(), answers=answers)


def test_documents_of_schema_version_1_are_still_read() -> None:
    """A gate stored by the previous version decodes, with what it did not record empty."""
    old = loads(GOLDEN_V1.read_text(encoding="utf-8").strip(), Gate)
    assert old.request is not None
    assert old.request.created_at is None
    assert attrs.evolve(old, request=golden_gate().request) == golden_gate()
    run = json.loads(dumps(golden_run()))
    run.pop("answers")
    run["schema_version"] = 1
    for gate in run["gates"]:
        if gate["request"] is not None:
            gate["request"].pop("created_at")
    assert loads(json.dumps(run), RunRecord).answers == ()


@given(gates(), event_sequences(max_size=12))
def test_every_reachable_record_round_trips(gate: Gate, sequence: list) -> None:  # type: ignore[type-arg]
    """Any record the machine produces decodes to an equal record."""
    now = EPOCH
    for delay, event in sequence:
        now += delay
        try:
            gate, _ = step(gate, event, now)
        except StateMachineError:
            continue
        assert loads(dumps(gate), Gate) == gate
    assert loads(dumps(gate).encode(), Gate) == gate


@pytest.mark.parametrize("version", [None, 0, 4, "1", 1.0, True])
def test_unknown_schema_versions_are_refused(version: object) -> None:
    """A missing, future, or mistyped schema version is a SchemaVersionError, not a guess."""
    document = json.loads(dumps(golden_gate()))
    if version is None:
        del document["schema_version"]
    else:
        document["schema_version"] = version
    with pytest.raises(SchemaVersionError) as info:
        loads(json.dumps(document), Gate)
    assert info.value.supported == 3


def mutate(change: object) -> str:
    document = json.loads(dumps(golden_gate()))
    change(document)  # type: ignore[operator]
    return json.dumps(document)


MALFORMED = {
    "not json": "{not json",
    "truncated": dumps(Gate(name="g", policy=HumanReview()))[:40],
    "empty": "",
    "a list": "[]",
    "not utf-8": b"\xff\xfe{}",
    "extra key": mutate(lambda d: d.update(surprise=1)),
    "missing key": mutate(lambda d: d.pop("state")),
    "unknown state": mutate(lambda d: d.update(state="paused")),
    "string version": mutate(lambda d: d.update(version="5")),
    "float version": mutate(lambda d: d.update(version=5.5)),
    "bool iteration": mutate(lambda d: d.update(iteration=True)),
    "negative version": mutate(lambda d: d.update(version=-1)),
    "naive deadline": mutate(lambda d: d["request"].update(deadline="2026-11-24T09:32:00")),
    "bad deadline": mutate(lambda d: d["request"].update(deadline="tomorrow")),
    "unknown on_reject": mutate(lambda d: d["policy"].update(on_reject="maybe")),
    "negative timeout": mutate(lambda d: d["policy"].update(timeout=-1)),
    "paused without request": mutate(lambda d: d.update(request=None)),
    "iteration past max": mutate(lambda d: d.update(iteration=9)),
    "feedback not a list": mutate(lambda d: d.update(feedback="shorter")),
    "numeric feedback": mutate(lambda d: d.update(feedback=[1])),
    "infinite timeout": mutate(lambda d: d["policy"].update(timeout=1e999)),
    "numeric deadline": mutate(lambda d: d["request"].update(deadline=1700000000)),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_is_a_typed_error(data: str | bytes) -> None:
    """Every kind of bad document raises MalformedRecord, never a foreign exception."""
    with pytest.raises(MalformedRecord):
        loads(data, Gate)


UNSTORABLE = [object(), float("nan"), float("inf"), {1: "a"}, {"a": {2}}, ("a",), [b"x"]]


@pytest.mark.parametrize("output", UNSTORABLE)
def test_outputs_json_would_change_are_refused(output: object) -> None:
    """An output that JSON would lose or alter is refused when produced and when encoded."""
    with pytest.raises(InvalidArgument):
        IterationCompleted(output)
    gate = Gate(name="g", policy=HumanReview(), state=State.done, iteration=1, outputs=(output,))
    with pytest.raises(CodecError):
        dumps(gate)


def test_only_library_records_are_encoded() -> None:
    """dumps and loads refuse types that are not records of this library."""
    with pytest.raises(InvalidArgument):
        dumps({"state": "done"})
    with pytest.raises(InvalidArgument):
        loads("{}", dict)


@given(st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_never_escape_as_foreign_errors(data: bytes | str) -> None:
    """Whatever the input, decoding either succeeds or raises one of the library's errors."""
    with pytest.raises(StateMachineError):
        loads(data, Gate)


def test_deadlines_are_written_with_their_offset() -> None:
    """Datetimes go out as ISO 8601 with a UTC offset, so every reader agrees on the instant."""
    document = json.loads(dumps(golden_gate()))
    deadline = datetime.fromisoformat(document["request"]["deadline"])
    assert deadline == datetime(2026, 11, 24, 9, 30, tzinfo=UTC) + timedelta(seconds=120)
    assert deadline.utcoffset() == timedelta(0)


def golden_run() -> RunRecord:
    """A run record with a gate, results and a history."""
    run = sample_run("run-1", datetime(2026, 11, 24, 9, 30, tzinfo=UTC), paused=True, timeout=60)
    return touched(run, run.updated_at)


def golden_answered_run() -> RunRecord:
    """The golden run after a rejection with feedback, and a timeout of the next review."""
    run = golden_run()
    at = run.updated_at + timedelta(seconds=5)
    run = decide(run, None, Verdict.reject, feedback="shorter", decision_id="d-1", now=at).run
    gate = run.gates[0]
    run, _ = apply_event(run, gate, IterationCompleted("draft 2"), at)
    expired = expire(run, at + timedelta(minutes=5))
    assert expired is not None
    return expired


def golden_hitl_run() -> RunRecord:
    """A run through a Router (route selected, its step done, the output edited), then a step
    that asked for input and failed, its error waiting for a decision."""
    start = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    router = Gate(
        name="analysis", max_iterations=3, choices=("quick", "deep"), members=("quick", "deep"),
        policy=HumanReview(requires_user_input=True, requires_output_review=True,
                           on_reject="retry", max_retries=2),
    )  # fmt: skip
    asking = Gate(
        name="fetch",
        max_iterations=1,
        policy=HumanReview(
            requires_user_input=True,
            user_input_schema=[{"name": "source", "allowed_values": ["api", "file"]}],
            on_error="pause",
        ),
    )
    run = sample_run("run-hitl", start, paused=False, timeout=None)
    run = attrs.evolve(run, gates=(), cursor="analysis", outline=(("analysis", "router"),))
    now = start
    steps: list[tuple[str, Event]] = [
        ("analysis", Start()),
        ("analysis", Select(choices=["deep"])),
        ("analysis", Advance()),
        ("analysis", IterationCompleted("deep analysis")),
        ("analysis", Edit(output="deep analysis, edited")),
        ("fetch", Start()),
        ("fetch", Provide(values={"source": "api"})),
        ("fetch", IterationFailed("ConnectionError: timed out")),
    ]
    for gate_name, event in steps:
        now += timedelta(seconds=1)
        gate = run.gate(gate_name) or (router if gate_name == "analysis" else asking)
        run, _ = apply_event(run, gate, event, now, live=RunStatus.running)
    return run


def mutate_run(change: object) -> str:
    document = json.loads(dumps(golden_run()))
    change(document)  # type: ignore[operator]
    return json.dumps(document)


BAD_RUNS = {
    "history entry not a list": mutate_run(lambda d: d["history"].__setitem__(0, {"v": 1})),
    "history entry too short": mutate_run(lambda d: d["history"].__setitem__(0, [1, "x"])),
    "history version a string": mutate_run(lambda d: d["history"][0].__setitem__(0, "1")),
    "history name a number": mutate_run(lambda d: d["history"][0].__setitem__(2, 7)),
    "history time naive": mutate_run(
        lambda d: d["history"][0].__setitem__(1, "2026-11-24T09:30:00")
    ),
    "outline a string": mutate_run(lambda d: d.update(outline="loop")),
    "unknown status": mutate_run(lambda d: d.update(status="sleeping")),
}


@pytest.mark.parametrize("data", BAD_RUNS.values(), ids=BAD_RUNS.keys())
def test_malformed_runs_are_typed_errors(data: str) -> None:
    """A run document with a bad history, outline or status raises MalformedRecord."""
    assert loads(dumps(golden_run()), RunRecord) == golden_run()
    with pytest.raises(MalformedRecord):
        loads(data, RunRecord)


def test_text_utf_8_cannot_carry_is_refused() -> None:
    """A lone surrogate in stored text raises CodecError instead of breaking a later write."""
    run = attrs.evolve(golden_run(), error="broken \ud800 text")
    with pytest.raises(CodecError, match="surrogate"):
        dumps(run)


OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=3))]
)
MOMENTS = st.datetimes(timezones=OFFSETS)
TEXT = st.text(max_size=12)


@st.composite
def reached_gates(draw: st.DrawFn) -> Gate:
    gate = draw(gates())
    now = draw(st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)))
    for delay, event in draw(event_sequences(max_size=8)):
        now += delay
        try:
            gate, _ = step(gate, event, now)
        except StateMachineError:
            continue
    return gate


def run_records() -> st.SearchStrategy[RunRecord]:
    return st.builds(
        RunRecord,
        run_id=TEXT,
        workflow=TEXT,
        fingerprint=TEXT,
        status=st.sampled_from(RunStatus),
        input=json_values(),
        cursor=st.none() | TEXT,
        outline=st.lists(st.tuples(TEXT, TEXT), max_size=3).map(tuple),
        gates=st.lists(reached_gates(), max_size=3).map(tuple),
        results=st.lists(st.builds(StepResult, TEXT, json_values()), max_size=3).map(tuple),
        error=st.none() | TEXT,
        traceback=st.none() | TEXT,
        attempts=st.integers(0, 10),
        retry_at=st.none() | MOMENTS,
        history=st.lists(
            st.builds(
                Transition, st.integers(0, 10**6), MOMENTS, TEXT, TEXT, TEXT, st.none() | TEXT
            ),
            max_size=5,
        ).map(tuple),
        answers=st.lists(
            st.builds(
                Answer,
                TEXT,
                st.sampled_from(["confirm", "reject", "timeout", "cancel"]),
                st.none() | TEXT,
                st.none() | TEXT,
                st.none() | MOMENTS,
            ),
            max_size=3,
        ).map(tuple),
        created_at=MOMENTS,
        updated_at=MOMENTS,
        version=st.integers(0, 10**6),
    )


@given(run_records() | reached_gates())
def test_the_encoder_writes_what_the_converter_defines(record: RunRecord | Gate) -> None:
    """`dumps` writes its text directly; it must equal the converter's unstructured record
    as JSON, which defines the format, and decode back to the record."""
    document = {"schema_version": 3, **converter().unstructure(record)}
    assert dumps(record) == json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    assert loads(dumps(record), type(record)) == record
    assert dumps(loads(dumps(record), type(record))) == dumps(record)  # through the caches


def test_equal_values_written_differently_are_not_confused_by_the_encoders_caches() -> None:
    """Policies and history entries are encoded once and remembered; an equal value that
    JSON writes differently (60 and 60.0; one instant in two offsets) keeps its own text."""
    gate = golden_gate()
    for timeout in (60, 60.0, 60):
        policy = attrs.evolve(gate.policy, timeout=timeout)
        assert json.loads(dumps(attrs.evolve(gate, policy=policy)))["policy"]["timeout"] == timeout
        assert f'"timeout":{timeout!r}' in dumps(attrs.evolve(gate, policy=policy))
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    for moment in (at, at.astimezone(timezone(timedelta(hours=5, minutes=30))), at):
        entry = Transition(1, moment, "loop", "start", "iterating")
        run = attrs.evolve(golden_run(), history=(entry,))
        assert json.loads(dumps(run))["history"] == [
            [1, moment.isoformat(), "loop", "start", "iterating"]
        ]


def test_history_entries_of_other_types_are_written_as_the_converter_writes_them() -> None:
    """The encoder writes a history entry's row itself only when its fields have the types the
    core gives them; an entry holding anything else (a datetime subclass, a bool for a
    version) is written through the converter, exactly as it defines it."""

    class Moment(datetime):
        pass

    at = Moment(2026, 11, 24, 9, 30, tzinfo=UTC)
    for entry in (
        Transition(1, at, "loop", "start", "iterating"),
        Transition(True, at.replace(second=1), "loop", "start", "iterating", "d"),
        Transition(2, datetime(2026, 11, 24, 9, 31, tzinfo=UTC), "loop", "start", "iterating", "d"),
    ):
        run = attrs.evolve(golden_run(), history=(entry,))
        document = {"schema_version": 3, **converter().unstructure(run)}
        assert dumps(run) == json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"input": {"when": float("nan")}}, "input['when']"),
        ({"results": (StepResult("prepare", [1, ("a",)]),)}, "results['prepare'][1]"),
    ],
)
def test_run_values_json_would_change_are_refused_by_name(
    change: dict[str, Any], named: str
) -> None:
    """A run's input or a step's result that JSON would alter is a CodecError naming it."""
    with pytest.raises(CodecError, match=named.replace("[", r"\[")):
        dumps(attrs.evolve(golden_run(), **change))


def test_a_run_whose_counters_are_not_integers_is_refused() -> None:
    """The codec would write what it could not read back: a bool or a float for a version."""
    for change in ({"attempts": True}, {"version": 3.0}):
        with pytest.raises(CodecError, match="must be integers"):
            dumps(attrs.evolve(golden_run(), **change))


def test_the_codecs_caches_stay_bounded_and_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoded texts and decoded history entries are remembered up to a bound; past it the
    caches start again, and every run still encodes and decodes exactly."""
    from statemachine.core import codec, wire

    monkeypatch.setattr(codec, "REMEMBERED", 4)
    monkeypatch.setattr(wire, "REMEMBERED", 4)
    run = golden_run()
    for _ in range(12):
        run = touched(run, run.updated_at + timedelta(seconds=1))
    text = dumps(run)
    for _ in range(3):
        assert loads(text, RunRecord) == run
        assert dumps(loads(text, RunRecord)) == text
    assert len(wire._decoded) <= 4
    assert len(codec._remembered) <= 4


def nested(wrap: Callable[[object], object], depth: int = 300) -> object:
    value: object = None
    for _ in range(depth):
        value = wrap(value)
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10**5000, "integer of"),
        (-(10**4400), "integer of"),
        (nested(lambda inner: [inner]), "deeper than"),
        (nested(lambda inner: {"k": inner}), "deeper than"),
        ("text with a lone \udc80 surrogate", "surrogate"),
        ({"key \udc80": 1}, "surrogate"),
    ],
    ids=["huge int", "huge negative int", "deep list", "deep dict", "surrogate", "surrogate key"],
)
def test_values_no_store_could_write_are_refused_before_writing(
    value: object, problem: str
) -> None:
    """Integers of thousands of digits, deep nesting and broken text are refused by name: as an
    output (InvalidArgument), and by the encoder (CodecError), never a ValueError or a
    RecursionError from deep inside the JSON encoder."""
    with pytest.raises(InvalidArgument, match=problem):
        IterationCompleted(value)
    with pytest.raises(CodecError, match=problem):
        dumps(attrs.evolve(golden_run(), input=value))


def test_deeply_nested_documents_are_malformed_not_a_recursion_error() -> None:
    """A stored document nested far too deeply to read is a MalformedRecord."""
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(MalformedRecord, match="too deeply"):
        loads(deep, RunRecord)
    document = json.loads(dumps(golden_run()))
    document["input"] = "PLACEHOLDER"
    text = json.dumps(document).replace('"PLACEHOLDER"', deep)
    with pytest.raises(MalformedRecord):
        loads(text, RunRecord)


def test_naive_times_are_refused_by_the_encoder() -> None:
    """A naive datetime could be written but never read back: the encoder refuses it."""
    naive = datetime(2026, 11, 24, 9, 30)
    for run in (
        attrs.evolve(golden_run(), updated_at=naive),
        attrs.evolve(golden_run(), retry_at=naive),
    ):
        with pytest.raises(CodecError, match="naive"):
            dumps(run)


def test_a_run_over_the_size_limit_is_refused_with_its_size() -> None:
    """encode_run refuses a run whose encoding is over the limit, naming both sizes."""
    run = attrs.evolve(golden_run(), input="x" * 2000)
    assert len(encode_run(run, None)) > 2000
    with pytest.raises(RunTooLarge) as info:
        encode_run(run, 1000)
    assert (info.value.limit, info.value.size) == (1000, len(encode_run(run, None)))
    assert "x" * 100 not in str(info.value)


@pytest.mark.parametrize(
    "answer",
    [
        {"request": "x"},
        ["only one"],
        ["r", "confirm", "d", "x", "t", "extra"],
        ["r", 5],
        ["r", "confirm", 7],
    ],
    ids=["an object", "too short", "too long", "how a number", "decision id a number"],
)
def test_malformed_answers_are_refused(answer: object) -> None:
    """An answer that is not [request_id, how, decision_id?, digest?, deadline?] of texts is
    a MalformedRecord."""
    document = json.loads(dumps(golden_answered_run()))
    document["answers"][0] = answer
    with pytest.raises(MalformedRecord, match="answer"):
        loads(json.dumps(document), RunRecord)


def test_a_text_field_of_the_wrong_type_is_a_codec_error() -> None:
    """A field the record's own checks leave to the codec (a name, a message) holding another
    type is refused by the encoder, before any store writes it."""
    for run in (
        attrs.evolve(golden_run(), workflow=7),  # type: ignore[arg-type]
        attrs.evolve(golden_run(), error=b"bytes"),  # type: ignore[arg-type]
    ):
        with pytest.raises(CodecError, match="cannot encode RunRecord"):
            dumps(run)
