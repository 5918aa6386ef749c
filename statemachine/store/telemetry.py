"""OpenTelemetry metrics and traces, with the `otel` extra (``pip install
hitl-statemachine[otel]``), once the application calls `instrument()`, as with
OpenTelemetry's instrumentors; nothing at all before.

Until then `active()` is None and every instrumented place skips a single `is None` test:
nothing is imported, nothing is measured. `instrument()` takes the instruments from
OpenTelemetry's global providers (set up the SDK first), or from the providers given.

A run has one trace, whoever executes it and however long it waits: the trace id (and the
parent every span of the run hangs from) is derived from the run id, so a unit executed days
later, in another process, joins the same trace with nothing stored in the run and nothing
read to find it. A span that starts a run links to the caller's span (an HTTP request, say).
A pause ends a unit's span with an OK status: waiting for a person is not an error.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from statemachine.core.errors import ConflictError, InvalidArgument, LeaseLost

if TYPE_CHECKING:
    from statemachine.store.protocol import Store

__all__ = [
    "Telemetry",
    "active",
    "committing",
    "instrument",
    "observe",
    "trace_ids",
    "uninstrument",
]

_current: Telemetry | None = None
SCOPE = "statemachine"
PAUSED_STATES = ("awaiting_confirmation", "awaiting_review")
OBSERVED_RUNS = 10_000
"""Paused runs the pending-request gauges read per collection, at most."""


def active() -> Telemetry | None:
    """The instruments, once `instrument()` was called; else None."""
    return _current


def instrument(meter_provider: Any = None, tracer_provider: Any = None) -> Telemetry:
    """Measure and trace what the library does from now on, with the instruments of these
    providers (None: OpenTelemetry's global ones).

    Raises:
        InvalidArgument: OpenTelemetry is not installed (the `otel` extra).
    """
    global _current
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        raise InvalidArgument(
            "instrument() needs OpenTelemetry: pip install 'hitl-statemachine[otel]'"
        ) from None
    meters = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    tracers = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    _current = Telemetry(meters.get_meter(SCOPE), tracers.get_tracer(SCOPE))
    return _current


def uninstrument() -> None:
    """Stop measuring and tracing (instruments already handed out stay with their provider)."""
    global _current
    _current = None


def observe(store: Store) -> None:
    """Report the requests waiting in `store` as gauges, read when metrics are collected (see
    `Telemetry.observe`); call after `instrument()`.

    Raises:
        InvalidArgument: `instrument()` was not called.
    """
    if _current is None:
        raise InvalidArgument("observe() measures through instrument(): call it first")
    _current.observe(store)


_OFF = nullcontext()


def committing(store: object) -> AbstractContextManager[None]:
    """Count the commit the block makes (stored, conflict, fenced) when metrics are on."""
    return _OFF if _current is None else _Committing(_current, store)


class _Committing:
    """A commit's outcome, counted as the block ends (a cancellation is not an outcome)."""

    __slots__ = ("_store", "_telemetry")

    def __init__(self, telemetry: Telemetry, store: object) -> None:
        self._telemetry, self._store = telemetry, store

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is None or isinstance(error, Exception):
            self._telemetry.committed(self._store, error)


def fired(run_ids: list[str]) -> list[str]:
    """`run_ids`, whose timeouts a sweep fired, counted when metrics are on."""
    if _current is not None and run_ids:
        _current.timeouts.add(len(run_ids))
    return run_ids


def reaped(run_ids: list[str]) -> list[str]:
    """`run_ids`, whose lost executors a sweep reaped, counted when metrics are on."""
    if _current is not None and run_ids:
        _current.reaped.add(len(run_ids))
    return run_ids


def trace_ids(run_id: str) -> tuple[int, int]:
    """The run's trace id, and the id of the parent its spans hang from."""
    digest = hashlib.sha256(run_id.encode()).digest()
    return int.from_bytes(digest[:16], "big"), int.from_bytes(digest[16:24], "big")


class Telemetry:
    """The library's instruments; each method records one thing that happened."""

    def __init__(self, meter: Any, tracer: Any) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.meter, self.tracer = meter, tracer
        counter = meter.create_counter
        self.commits = counter("statemachine.commits", "{commit}", "runs stored")
        self.conflicts = counter(
            "statemachine.conflicts", "{commit}", "commits refused: another writer changed the run"
        )
        self.fenced = counter(
            "statemachine.fenced_commits", "{commit}", "commits refused: the lease was lost"
        )
        self.decisions = counter("statemachine.decisions", "{decision}", "decisions recorded")
        self.timeouts = counter("statemachine.timeouts", "{timeout}", "timeouts fired")
        self.retries = counter("statemachine.retries", "{run}", "failed runs to be retried")
        self.dead_letters = counter("statemachine.dead_letters", "{run}", "runs dead-lettered")
        self.reaped = counter("statemachine.reaped", "{run}", "runs whose executor was lost")
        self.notices = counter(
            "statemachine.notices", "{notice}", "notifications sent: pauses, reminders, escalations"
        )
        self.decision_time = meter.create_histogram(
            "statemachine.decision.duration", "s", "from a request to its decision"
        )
        self.sweep_time = meter.create_histogram(
            "statemachine.sweep.duration", "s", "a worker's sweep: timeouts fired, leases reaped"
        )

    # Metrics

    def committed(self, store: object, error: BaseException | None) -> None:
        """A commit: stored, refused by compare-and-set, or fenced off (lease lost)."""
        kind = {"store": type(store).__name__}
        if error is None:
            self.commits.add(1, kind)
        elif isinstance(error, LeaseLost):
            self.fenced.add(1, kind)
        elif isinstance(error, ConflictError):
            self.conflicts.add(1, kind)

    def counting(
        self, store: object, effect: Callable[[Any], Any], commit: type
    ) -> Callable[[Any], Any]:
        """`effect`, with the commits among the effects it answers counted."""

        def answer(asked: Any) -> Any:
            if type(asked) is not commit:
                return effect(asked)
            with _Committing(self, store):
                return effect(asked)

        return answer

    def acounting(
        self, store: object, effect: Callable[[Any], Awaitable[Any]], commit: type
    ) -> Callable[[Any], Awaitable[Any]]:
        """`counting`, awaited."""

        async def answer(asked: Any) -> Any:
            if type(asked) is not commit:
                return await effect(asked)
            with _Committing(self, store):
                return await effect(asked)

        return answer

    def decided(self, verdict: str, outcome: str, asked_at: datetime | None, at: datetime) -> None:
        attributes = {"decision": verdict, "outcome": outcome}
        self.decisions.add(1, attributes)
        if outcome == "applied" and asked_at is not None:
            self.decision_time.record(max(0.0, (at - asked_at).total_seconds()), attributes)

    def swept(self, started: float) -> None:
        """A worker's sweep, begun at `started` (`time.monotonic()`), is over."""
        self.sweep_time.record(time.monotonic() - started)

    def observe(self, store: Store) -> None:
        """Report the requests waiting in `store`, read when the metrics are collected:
        ``statemachine.requests.pending`` and ``statemachine.requests.oldest_age`` (seconds),
        by workflow and kind."""
        from opentelemetry.metrics import Observation

        def waiting() -> dict[tuple[str, str], list[datetime]]:
            found: dict[tuple[str, str], list[datetime]] = {}
            for state in PAUSED_STATES:
                offset = 0
                while offset < OBSERVED_RUNS:
                    page = store.page(state, limit=500, offset=offset)
                    for run in page:
                        gate = run.pending_gate
                        if gate is not None and gate.request is not None:
                            asked = gate.request.created_at or run.updated_at
                            key = (run.workflow, gate.request.kind.value)
                            found.setdefault(key, []).append(asked)
                    if len(page) + len(page.unreadable) < 500:
                        break
                    offset += 500
            return found

        def pending(options: Any) -> Iterable[Observation]:
            for (workflow, kind), asked in waiting().items():
                yield Observation(len(asked), {"workflow": workflow, "kind": kind})

        def oldest(options: Any) -> Iterable[Observation]:
            now = store.now()
            for (workflow, kind), asked in waiting().items():
                age = (now - min(asked)).total_seconds()
                yield Observation(age, {"workflow": workflow, "kind": kind})

        self.meter.create_observable_gauge(
            "statemachine.requests.pending", [pending], "{request}", "requests waiting"
        )
        self.meter.create_observable_gauge(
            "statemachine.requests.oldest_age", [oldest], "s", "the oldest request waiting"
        )

    # Traces

    @contextmanager
    def span(self, name: str, run_id: str, **attributes: Any) -> Iterator[Any]:
        """A span of the run's trace, from here to the end of the block; an exception escaping
        it marks it failed."""
        trace = self._trace
        trace_id, parent_id = trace_ids(run_id)
        parent = trace.SpanContext(
            trace_id, parent_id, is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )  # fmt: skip
        caller = trace.get_current_span().get_span_context()
        links = [trace.Link(caller)] if caller.is_valid else []
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        # Not made current: the span is open while a stream hands events to its reader,
        # whose own spans are not this run's.
        span = self.tracer.start_span(
            name, context=context, links=links,
            attributes={"statemachine.run_id": run_id, **attributes},
        )  # fmt: skip
        try:
            yield span
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            span.end()

    def ended(self, span: Any, status: str, error: str | None = None) -> None:
        """Say how the run stood when the span's work ended: failed is an error; a pause,
        completion or hand-over is not."""
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("statemachine.status", status)
        if status == "failed":
            span.set_status(Status(StatusCode.ERROR, error))
        else:
            span.set_status(Status(StatusCode.OK))
