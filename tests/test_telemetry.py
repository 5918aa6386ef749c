"""OpenTelemetry metrics and traces, read with the SDK's in-memory reader and exporter: what a
paused-and-resumed run, a worker, a conflict, a timeout and a failure record; one trace per
run across pauses and processes; nothing before `instrument()`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from statemachine import (
    HumanReview,
    InvalidArgument,
    OnReject,
    RetryPolicy,
    Step,
    Store,
    Worker,
    Workflow,
    instrument,
    observe,
    uninstrument,
)
from statemachine.store.telemetry import active, trace_ids

from .cli_app import always_fails


class Recorded:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.spans = InMemorySpanExporter()
        tracers = TracerProvider()
        tracers.add_span_processor(SimpleSpanProcessor(self.spans))
        instrument(MeterProvider(metric_readers=[self.reader]), tracers)

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **attributes: str) -> float:
        return float(
            sum(
                point.value
                for point in self.points(name)
                if all(point.attributes.get(k) == v for k, v in attributes.items())
            )
        )


def attributes(span: ReadableSpan) -> Mapping[str, Any]:
    assert span.attributes is not None
    return span.attributes


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    made = Recorded()
    yield made
    uninstrument()


def write(step_input: Any) -> str:
    return "draft"


def reviewed(store: Store, timeout: float | None = None) -> Workflow:
    review = HumanReview(requires_output_review=True, on_reject=OnReject.retry, timeout=timeout)
    return Workflow("reviewed", [Step(name="write", executor=write, human_review=review)], store)


def test_nothing_is_measured_or_imported_before_instrument() -> None:
    assert active() is None
    script = (
        "import sys; from statemachine import Workflow, Step;"
        "w = Workflow('w', [Step(name='s', executor=lambda si: 1)]); w.run();"
        "print(any(name.startswith('opentelemetry') for name in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_observe_needs_instrument(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="instrument"):
        observe(store)


def test_a_paused_and_resumed_run_is_one_trace_with_its_metrics(
    recorded: Recorded, store: Store
) -> None:
    workflow = reviewed(store)
    paused = workflow.run("notes")
    store.decide(paused.run_id, None, "reject", "shorter", by="alice")
    workflow.continue_run(paused.run_id)
    store.decide(paused.run_id, None, "confirm", by="bob")
    done = workflow.continue_run(paused.run_id)
    assert done.status.value == "completed"

    kind = type(store).__name__
    assert recorded.total("statemachine.commits", store=kind) == 5  # 2 pauses, 2 decisions, end
    assert recorded.total("statemachine.decisions", decision="reject", outcome="applied") == 1
    assert recorded.total("statemachine.decisions", decision="confirm", outcome="applied") == 1
    [latency] = [p for p in recorded.points("statemachine.decision.duration")
                 if p.attributes["decision"] == "confirm"]  # fmt: skip
    assert latency.count == 1

    spans = recorded.spans.get_finished_spans()
    units = [span for span in spans if span.name == "statemachine.unit"]
    decisions = [span for span in spans if span.name == "statemachine.decide"]
    assert len(units) == 3
    assert len(decisions) == 2
    trace_id, parent_id = trace_ids(paused.run_id)
    for span in [*units, *decisions]:
        assert span.context.trace_id == trace_id  # one trace, across the pauses
        assert span.parent is not None
        assert span.parent.span_id == parent_id
        assert attributes(span)["statemachine.run_id"] == paused.run_id
    # A pause is not an error; the unit that paused says so.
    assert [attributes(span)["statemachine.status"] for span in units] == [
        "paused", "paused", "completed",
    ]  # fmt: skip
    assert all(span.status.status_code is StatusCode.OK for span in units)


def test_the_trace_id_is_the_same_in_another_process() -> None:
    run_id = "0661765b955e380000a3d2023ec725bc"
    script = f"from statemachine.store.telemetry import trace_ids; print(trace_ids({run_id!r}))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.strip() == str(trace_ids(run_id))


def test_a_conflict_a_timeout_and_a_failure(recorded: Recorded, store: Store) -> None:
    workflow = reviewed(store, timeout=60)
    paused = workflow.run("notes")
    stale = store.load(paused.run_id)
    store.decide(paused.run_id, None, "reject", "again")
    workflow.continue_run(paused.run_id)  # paused again: `stale` is two versions behind
    store.decide(paused.run_id, None, "reject", "more", seen=stale)  # lost a race, retried
    assert recorded.total("statemachine.conflicts") == 1
    workflow.continue_run(paused.run_id)  # the third review
    fired = store.expire_due(now=store.now() + timedelta(seconds=61))
    assert fired == [paused.run_id]
    assert recorded.total("statemachine.timeouts") == 1

    failing = Workflow("failing", [Step(name="boom", executor=always_fails)], store)
    failed = failing.run("x")
    [unit] = [
        span
        for span in recorded.spans.get_finished_spans()
        if attributes(span).get("statemachine.run_id") == failed.run_id
    ]
    assert unit.status.status_code is StatusCode.ERROR
    assert attributes(unit)["statemachine.status"] == "failed"


def test_a_worker_records_retries_dead_letters_and_sweeps(recorded: Recorded, store: Store) -> None:
    failing = Workflow("failing", [Step(name="boom", executor=always_fails)], store)
    run_id = failing.submit("x")
    worker = Worker([failing], store, retry=RetryPolicy(max_attempts=2, base_seconds=0))
    while store.load(run_id).retry_at is not None or store.load(run_id).attempts == 0:
        worker.work_once()  # each unit fails; the second attempt is the last
    worker.sweep()
    assert recorded.total("statemachine.retries") == 1
    assert recorded.total("statemachine.dead_letters") == 1
    [sweep] = recorded.points("statemachine.sweep.duration")
    assert sweep.count == 1


def test_the_requests_waiting_are_gauges(recorded: Recorded, store: Store) -> None:
    workflow = reviewed(store)
    first = workflow.run("a")
    workflow.run("b")
    observe(store)
    pending = recorded.points("statemachine.requests.pending")
    assert [(p.attributes["workflow"], p.attributes["kind"], p.value) for p in pending] == [
        ("reviewed", "review", 2)
    ]
    [oldest] = recorded.points("statemachine.requests.oldest_age")
    asked = store.load(first.run_id).pending_gate
    assert asked is not None
    assert asked.request is not None
    assert asked.request.created_at is not None
    assert oldest.value >= 0


def test_notices_are_counted_by_event_and_outcome(recorded: Recorded, store: Store) -> None:
    from statemachine.runtime.hooks import PauseNotice

    def tell(notice: PauseNotice) -> None:
        pass

    review = HumanReview(requires_output_review=True, on_reject=OnReject.retry)
    told = Workflow("told", [Step(name="write", executor=write, human_review=review)], store,
                    on_pause=[tell])  # fmt: skip
    told.run("x")
    assert recorded.total("statemachine.notices", event="paused", outcome="delivered") == 1
