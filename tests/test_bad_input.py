"""Bad input gets a typed error before anything is written: clocks, definitions, settings,
values no store can hold, oversized runs and ids, and executors that change what they get."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statemachine import (
    DefinitionError,
    HumanReview,
    InvalidArgument,
    InvalidRunId,
    Loop,
    OnReject,
    RetryPolicy,
    RunStatus,
    RunTooLarge,
    Step,
    StepInput,
    Store,
    StoreNotFound,
    Worker,
    Workflow,
)
from stores import RedisStore, open_store

from .conftest import STORE_KINDS
from .servers import RedisServer


def stored_ids(store: Store) -> list[str]:
    """The runs stored; none when the store was never created (a file store's directory)."""
    try:
        return store.run_ids()
    except StoreNotFound:
        return []


def one_step(store: Store | None, clock: Callable[[], Any] | None = None) -> Workflow:
    return Workflow(
        name="one", store=store, clock=clock, steps=[Step(name="s", executor=lambda si: "ok")]
    )


@pytest.mark.parametrize(
    "clock",
    [lambda: datetime(2026, 11, 29, 12, 0), lambda: 1_780_000_000.0, lambda: "now", lambda: None],
    ids=["naive", "a float", "a string", "None"],
)
@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_clock_that_is_not_aware_is_refused_before_anything_is_written(
    kind: str, clock: Callable[[], Any], make_store: Callable[..., Store]
) -> None:
    """A clock answering a naive datetime, or not a datetime, is InvalidArgument at the first
    call that would stamp a record: no run is stored that could never be read back."""
    store = make_store(kind)
    workflow = one_step(store, clock)
    with pytest.raises(InvalidArgument, match="the workflow's clock"):
        workflow.run("x")
    assert stored_ids(store) == []


@pytest.mark.parametrize("timeout", [1e12, 4e9, float("inf"), float("nan"), 0, -1, True, "60"])
def test_a_timeout_no_deadline_could_hold_is_refused_at_definition(timeout: object) -> None:
    """Timeouts beyond a century (a deadline a datetime cannot hold, for the largest), and
    non-numbers, are refused when the policy is defined, not at every pause."""
    with pytest.raises(DefinitionError, match="timeout"):
        HumanReview(requires_confirmation=True, timeout=timeout)  # type: ignore[arg-type]
    HumanReview(requires_confirmation=True, timeout=100 * 365 * 24 * 3600)


def test_a_pause_whose_deadline_overflows_is_refused_not_an_overflow_error() -> None:
    """A clock near the end of time makes the deadline overflow: InvalidArgument, nothing
    stored half way."""
    workflow = Workflow(
        name="late",
        clock=lambda: datetime(9999, 12, 30, tzinfo=UTC),
        steps=[
            Loop(
                name="loop",
                steps=[Step(name="s", executor=lambda si: 1)],
                human_review=HumanReview(requires_confirmation=True, timeout=7 * 86400),
            )
        ],
    )
    with pytest.raises(InvalidArgument, match=r"datetime can hold"):
        workflow.run("x")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("lease_seconds", 0.0001),
        ("lease_seconds", 1e300),
        ("lease_seconds", float("nan")),
        ("retry_seconds", float("inf")),
        ("retry_seconds", -1),
        ("partitions", 0),
    ],
)
def test_redis_settings_out_of_range_are_refused(
    redis_server: RedisServer, setting: str, value: object
) -> None:
    """A lease too short to commit within, or so long the heartbeat cannot wait for it, is
    InvalidArgument when the store is built."""
    with pytest.raises(InvalidArgument, match=setting):
        RedisStore(redis_server.url, prefix="settings", **{setting: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: Worker([one_step(None)], store="nope"), "a Store"),  # type: ignore[arg-type]
        (lambda: Worker([]), "at least one workflow"),
        (lambda: Worker(["not a workflow"]), "only Workflows"),  # type: ignore[list-item]
        (lambda: Worker([one_step(None)], concurrency=0), "concurrency"),
        (lambda: Worker([one_step(None)], concurrency=2.5), "concurrency"),  # type: ignore[arg-type]
        (lambda: Worker([one_step(None)], poll_seconds=-1), "poll_seconds"),
        (lambda: Worker([one_step(None)], sweep_seconds=float("inf")), "sweep_seconds"),
        (lambda: Worker([one_step(None)], retry=5), "RetryPolicy"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(max_attempts=0), "max_attempts"),
        (lambda: RetryPolicy(max_attempts=2.0), "max_attempts"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(base_seconds=-1), "base_seconds"),
        (lambda: RetryPolicy(cap_seconds=float("inf")), "cap_seconds"),
        (lambda: RetryPolicy(cap_seconds=1e300), "cap_seconds"),
    ],
)
def test_worker_and_retry_settings_are_typed_errors(build: Callable[[], object], name: str) -> None:
    """Bad worker and retry settings raise InvalidArgument naming the setting."""
    with pytest.raises(InvalidArgument, match=name):
        build()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_outputs_no_store_could_write_fail_the_step_and_store_nothing_broken(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """An executor returning an integer of thousands of digits or nesting hundreds deep fails
    its step, by name (retried like any failure), and the run stays readable."""
    store = make_store(kind)
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    for value in (10**5000, deep):

        def returns(step_input: StepInput, value: Any = value) -> Any:
            return value

        workflow = Workflow(
            name="bad_output", store=store, steps=[Step(name="s", executor=returns)]
        )
        out = workflow.run("x")
        assert out.status is RunStatus.failed
        assert out.error is not None
        assert "content of step 's'" in out.error
        assert store.load(out.run_id).status is RunStatus.failed
    for value in (10**5000, deep):
        with pytest.raises(InvalidArgument):
            one_step(store).submit(value)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_oversized_runs_and_ids_are_refused_before_writing(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """50 MB of feedback is refused (RunTooLarge) and the run stays as it was; a 5 MB run id
    is refused with a message that does not echo it."""
    store = make_store(kind)
    workflow = Workflow(
        name="big",
        store=store,
        steps=[
            Loop(
                name="loop",
                steps=[Step(name="s", executor=lambda si: "draft")],
                human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry),
            )
        ],
    )
    paused = workflow.run("x")
    before = store.load(paused.run_id)
    with pytest.raises(RunTooLarge) as info:
        paused.requirements[0].reject("x" * 50_000_000)
    assert len(str(info.value)) < 300
    assert store.load(paused.run_id) == before
    with pytest.raises(InvalidRunId) as refused:
        workflow.run("x", run_id="r" * 5_000_000)
    assert len(str(refused.value)) < 300
    small = make_store(kind, name="small")
    small.max_run_bytes = 2000
    with pytest.raises(RunTooLarge):
        one_step(small).submit("y" * 3000)
    assert stored_ids(small) == []


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_executors_and_callers_cannot_change_what_is_stored(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """Executors mutating their input, the previous content or the rejected output, and
    callers mutating what a run output gives them, change nothing stored."""
    store = make_store(kind)

    def meddle(step_input: StepInput) -> dict[str, Any]:
        step_input.input["touched"] = True
        if isinstance(step_input.previous_step_content, dict):
            step_input.previous_step_content["touched"] = True
        previous = step_input.additional_data.get("previous_output")
        if isinstance(previous, dict):
            previous["touched"] = True
        return {"draft": step_input.iteration, "items": [1, 2]}

    workflow = Workflow(
        name="meddling",
        store=store,
        steps=[
            Step(name="prepare", executor=lambda si: {"prepared": True}),
            Loop(
                name="loop",
                steps=[Step(name="draft", executor=meddle)],
                human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry),
            ),
        ],
    )
    paused = workflow.run({"topic": "x"})
    paused.requirements[0].reject("again")
    paused = workflow.continue_run(paused)
    paused.input["touched"] = True
    paused.requirements[0].step_output.content["items"].append(3)
    paused.step_results[0].content["touched"] = True
    stored = store.load(paused.run_id)
    assert stored.input == {"topic": "x"}
    assert stored.results[0].content == {"prepared": True}
    assert stored.gates[0].outputs == ({"draft": 1, "items": [1, 2]}, {"draft": 2, "items": [1, 2]})
    paused.requirements[0].confirm()
    done = workflow.continue_run(paused)
    assert done.content == {"draft": 2, "items": [1, 2]}


def test_a_decision_time_in_the_future_is_recorded_as_the_recording_time() -> None:
    """A caller's decided_at later than the store's clock cannot put the history in the
    future: the time of recording is kept."""
    from statemachine.testing.contract import sample_run
    from stores import MemoryStore

    store = MemoryStore()
    now = datetime.now(UTC)
    store.create(sample_run("r", now, True, None))
    result = store.decide(
        "r", "loop:review:1", "confirm", decided_at=now + timedelta(days=1), now=now
    )
    assert result.run.history[-1].at == now


def _nested(depth: int) -> list[object]:
    """A list `depth` lists deep: too deep for `repr` to show."""
    outer: list[object] = []
    inner = outer
    for _ in range(depth):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    return outer


@pytest.mark.parametrize(
    "call",
    [
        lambda deep: Workflow(name=deep, steps=[Step(name="s", executor=lambda si: "ok")]),
        lambda deep: Workflow(name="w", steps=deep),
        lambda deep: Loop(name=deep, steps=[Step(name="s", executor=lambda si: "ok")]),
        lambda deep: Loop(name="l", steps=[deep]),
        lambda deep: HumanReview(requires_confirmation=True, confirmation_message=deep),
        lambda deep: one_step(None).get_run(deep),
        lambda deep: one_step(None).run("x", run_id=deep),
    ],
    ids=["workflow name", "steps", "loop name", "loop step", "message", "get_run", "run_id"],
)
def test_a_value_too_deeply_nested_to_show_is_refused_by_type(
    call: Callable[[object], object],
) -> None:
    """The error naming a bad value shows it cut short; one nested too deeply for `repr` is
    named by its type, not a RecursionError from building the message."""
    with pytest.raises(InvalidArgument, match="nested too deeply to show"):
        call(_nested(5000))


@pytest.mark.parametrize("steps", [5, None, object(), True])
def test_loop_steps_that_are_not_a_list_are_a_definition_error(steps: object) -> None:
    """A Loop's steps that are no list of steps: DefinitionError, not a TypeError."""
    with pytest.raises(DefinitionError, match="a Loop's steps must be a list"):
        Loop(name="l", steps=steps)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    ["file:///x?max_run_bytes=\u00b2", "sqlite:///x.db?max_run_bytes=\u00b2",
     "sqlite:///x.db?max_run_bytes=\u0663"],
    ids=["file, superscript two", "sqlite, superscript two", "sqlite, arabic-indic three"],
)  # fmt: skip
def test_a_store_url_size_that_is_not_ascii_digits_is_refused(url: str) -> None:
    """``str.isdigit`` passes a superscript two, which `int` refuses: max_run_bytes takes
    ASCII digits only, so the URL is InvalidArgument, not a ValueError."""
    with pytest.raises(InvalidArgument, match="max_run_bytes"):
        open_store(url)
