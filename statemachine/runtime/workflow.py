"""Workflows of steps and loops: the user-facing runtime built on the gate machine.

Theory of operation. A run is one `RunRecord` in a store. Executing it means holding the
store's execution lease, then repeating: settle what needs no user code (start a gate, move
the cursor past a finished one), run one unit of user code (a plain step, or one loop
iteration), record its result as transitions. The run is committed (compare-and-set on its
version) after each unit of user code (just before the next one starts), at every pause, at
the end and on failure, so a crash loses at most the unit that was running, which
`continue_run` runs again. That makes one durable write per unit of work, pauses included.

Decisions do not go through here: `StepRequirement.confirm()` / `reject()` record them in the
store at once (`Store.decide`), from any process, and `continue_run` executes what they made
runnable.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias, overload

import attrs

from statemachine.core.actions import RunIteration
from statemachine.core.errors import (
    ConflictError,
    CorruptRun,
    DefinitionChanged,
    DefinitionError,
    InvalidArgument,
)
from statemachine.core.events import JSON, IterationCompleted, Start, json_copy, json_problem
from statemachine.core.policy import HumanReview
from statemachine.core.record import Gate, RequestKind, RunRecord, RunStatus
from statemachine.core.runs import Verdict, apply_event, expire, fail, finish_step
from statemachine.core.states import State
from statemachine.runtime.stream import (
    LoopIterationCompletedEvent,
    LoopIterationStartedEvent,
    StepCompletedEvent,
    StepPausedEvent,
    StepStartedEvent,
    WorkflowCompletedEvent,
    WorkflowEvent,
    WorkflowFailedEvent,
    WorkflowStartedEvent,
)
from statemachine.store import Lease, RetryPolicy, Store, aware, check_run_id, new_id
from statemachine.store.memory import MemoryStore

__all__ = [
    "Loop",
    "RunOutput",
    "Session",
    "Step",
    "StepInput",
    "StepOutput",
    "StepRequirement",
    "Workflow",
]

Clock: TypeAlias = Callable[[], datetime]


@attrs.frozen
class StepOutput:
    """What a step produced. `content` must be a JSON value: it is stored with the run."""

    content: JSON = None
    step_name: str | None = None


@attrs.frozen(kw_only=True)
class StepInput:
    """What a step's executor receives.

    Attributes:
        input: the workflow run's input.
        previous_step_content: the content of the step that ran before this one (inside a
            loop, the previous body step; for the first body step, the content before the
            loop, or with ``forward_iteration_output=True`` the previous iteration's output).
        previous_step_outputs: every finished step's output so far, by name.
        additional_data: after a rejection, ``rejection_feedback`` (the reviewer's text, or
            None) and ``previous_output`` (the rejected output).
        iteration: the loop iteration, 1-based; None outside loops.
        run_id: the run this is part of.
        step_name: the step being executed.
        idempotency_key: stable across retries of this same unit of work (run, step,
            iteration): user code runs at least once, so use it to make side effects idempotent.
    """

    input: JSON
    previous_step_content: JSON = None
    previous_step_outputs: Mapping[str, StepOutput] = attrs.field(factory=dict)
    additional_data: Mapping[str, JSON] = attrs.field(factory=dict)
    iteration: int | None = None
    run_id: str = ""
    step_name: str = ""
    idempotency_key: str = ""

    def get_last_step_content(self) -> JSON:
        """The previous step's content (the peer framework's spelling)."""
        return self.previous_step_content


Executor: TypeAlias = Callable[[StepInput], Any]


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError(f"a {kind} needs a non-empty name, not {name!r}")
    return name


@attrs.frozen(kw_only=True)
class Step:
    """One unit of work: an `executor` function, or an `agent` with a ``run(message)`` method.

    Attributes:
        name: unique within the workflow; runs refer to steps by name.
        executor: ``fn(step_input) -> StepOutput | str | JSON``.
        agent: any object whose ``run(message)`` returns something with ``.content`` (an
            agent from another framework plugs in). Its message is the previous step's content
            (or the workflow input), with reviewer feedback appended after a rejection.
        human_review: ``requires_confirmation`` and/or ``requires_output_review``.

    Raises:
        DefinitionError (a ValueError): a missing name, both or neither of executor and agent,
            or a review option a Step does not support.
    """

    name: str
    executor: Executor | None = None
    agent: Any = None
    human_review: HumanReview | None = None
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_name("Step", self.name)
        if (self.executor is None) == (self.agent is None):
            raise DefinitionError(f"Step {self.name!r} needs exactly one of executor= or agent=")
        if self.executor is not None and not callable(self.executor):
            raise DefinitionError(f"Step {self.name!r}: executor must be callable")
        if self.agent is not None and not callable(getattr(self.agent, "run", None)):
            raise DefinitionError(f"Step {self.name!r}: agent must have a run(message) method")
        review = self.human_review
        if review is not None and not isinstance(review, HumanReview):
            raise DefinitionError(f"Step {self.name!r}: human_review must be a HumanReview")
        if review is not None and review.requires_iteration_review:
            raise DefinitionError(
                f"Step {self.name!r}: requires_iteration_review is only supported on Loop; "
                "a Step supports requires_confirmation and requires_output_review"
            )

    @property
    def is_gated(self) -> bool:
        """Whether a human can pause this step."""
        review = self.human_review
        return review is not None and (review.requires_confirmation or review.reviews_iterations)


def _as_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


@attrs.frozen(kw_only=True)
class Loop:
    """Steps repeated up to `max_iterations` times, with optional human gates.

    Attributes:
        name: unique within the workflow.
        steps: the body, run in order each iteration; the last one's content is the
            iteration's output. Body steps cannot have a `human_review` of their own.
        max_iterations: at least 1.
        should_continue: ``fn(step_input, iteration) -> bool``, asked after each iteration of
            a loop without iteration review (with review, the reviewer decides). None runs
            every iteration.
        forward_iteration_output: iteration k + 1's ``previous_step_content`` is iteration
            k's output, instead of the content from before the loop.
        human_review: ``requires_confirmation`` and/or ``requires_iteration_review``.

    Raises:
        DefinitionError (a ValueError): as for `Step`, or an empty body or nested loop.
    """

    name: str
    steps: tuple[Step, ...] = attrs.field(converter=_as_steps)
    max_iterations: int = 3
    should_continue: Callable[[StepInput, int], bool] | None = None
    forward_iteration_output: bool = False
    human_review: HumanReview | None = None
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_name("Loop", self.name)
        if not self.steps:
            raise DefinitionError(f"Loop {self.name!r} needs at least one step")
        for body in self.steps:
            if not isinstance(body, Step):
                raise DefinitionError(
                    f"Loop {self.name!r}: its steps must be Step objects, not {body!r}"
                )
            if body.human_review is not None:
                raise DefinitionError(
                    f"Loop {self.name!r}: step {body.name!r} inside a loop cannot have its own "
                    "human_review; put it on the Loop (requires_confirmation or "
                    "requires_iteration_review)"
                )
        if type(self.max_iterations) is not int or self.max_iterations < 1:
            raise DefinitionError(f"Loop {self.name!r}: max_iterations must be an integer >= 1")
        if self.should_continue is not None and not callable(self.should_continue):
            raise DefinitionError(f"Loop {self.name!r}: should_continue must be callable")
        review = self.human_review
        if review is not None and not isinstance(review, HumanReview):
            raise DefinitionError(f"Loop {self.name!r}: human_review must be a HumanReview")
        if review is not None and review.requires_output_review:
            raise DefinitionError(
                f"Loop {self.name!r}: requires_output_review is for Step; a Loop supports "
                "requires_confirmation and requires_iteration_review"
            )

    @property
    def is_gated(self) -> bool:
        """Every loop is a gate, with or without humans."""
        return True


def _kind(step: Step | Loop) -> str:
    if isinstance(step, Loop):
        return "loop"
    return "reviewed step" if step.is_gated else "step"


def _paused(run: RunRecord, gate: Gate) -> StepPausedEvent:
    request = gate.request
    assert request is not None
    output = json_copy(gate.outputs[-1]) if request.kind is RequestKind.review else None
    return StepPausedEvent(
        run.run_id, gate.name, request.request_id, request.kind, request.message,
        request.deadline, gate.iteration, output,
    )  # fmt: skip


def _policy(step: Step | Loop) -> HumanReview:
    return step.human_review if step.human_review is not None else HumanReview()


def _max_iterations(step: Step | Loop) -> int:
    return step.max_iterations if isinstance(step, Loop) else 1


def _plain(instance: object, field: object, value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def _describe(step: Step | Loop) -> dict[str, Any]:
    shape: dict[str, Any] = {"name": step.name, "kind": type(step).__name__}
    if step.human_review is not None:
        shape["policy"] = attrs.asdict(step.human_review, value_serializer=_plain)
    if isinstance(step, Loop):
        shape.update(
            max_iterations=step.max_iterations,
            forward=step.forward_iteration_output,
            body=[_describe(body) for body in step.steps],
        )
    return shape


def _content(result: object, step: Step) -> JSON:
    if isinstance(result, StepOutput):
        content = result.content
    elif step.agent is not None:
        content = getattr(result, "content", result)
    else:
        content = result
    if problem := json_problem(content, f"the content of step {step.name!r}"):
        raise InvalidArgument(problem)
    return json_copy(content)  # the executor keeps no handle on what is stored


def _message(step_input: StepInput) -> str:
    base = step_input.previous_step_content
    if base is None:
        base = step_input.input
    text = base if isinstance(base, str) else json.dumps(base)
    feedback = step_input.additional_data.get("rejection_feedback")
    if feedback:
        text += f"\n\nReviewer feedback on the previous attempt: {feedback}"
    return text


def _run_step(step: Step, step_input: StepInput) -> StepOutput:
    if step.agent is not None:
        result = step.agent.run(_message(step_input))
    else:
        assert step.executor is not None
        result = step.executor(step_input)
    return StepOutput(content=_content(result, step), step_name=step.name)


def _error_text(exc: BaseException) -> str:
    import traceback

    lines = traceback.format_exception_only(type(exc), exc)
    text = "".join(lines).strip()[:2000]
    return text.encode(errors="backslashreplace").decode()  # a lone surrogate stays storable


class _StepFailed(Exception):
    def __init__(self, name: str, exc: Exception) -> None:
        super().__init__(name)
        self.name = name
        self.error = _error_text(exc)


class StepRequirement:
    """A pending question of a paused run: confirm it or reject it, from any process.

    `confirm()` and `reject()` record the decision in the store immediately (then call
    `Workflow.continue_run` to execute what it made runnable). Calling the same method again
    on the same requirement is a no-op.
    """

    __slots__ = ("_decisions", "_output", "deadline", "iteration", "kind", "message",
                 "request_id", "step_name", "step_output")  # fmt: skip

    def __init__(self, output: RunOutput, gate: Gate) -> None:
        assert gate.request is not None
        request = gate.request
        self._output = output
        self._decisions = {verdict: new_id() for verdict in Verdict}
        self.step_name = gate.name
        self.request_id = request.request_id
        self.kind = request.kind
        self.message = request.message
        self.deadline = request.deadline
        self.iteration = gate.iteration
        # A confirmation has no output yet: its step_output has None content.
        content = json_copy(gate.outputs[-1]) if request.kind is RequestKind.review else None
        self.step_output = StepOutput(content=content, step_name=gate.name)

    def __repr__(self) -> str:
        return (
            f"StepRequirement(step_name={self.step_name!r}, kind={self.kind.value}, "
            f"request_id={self.request_id!r}, deadline={self.deadline!r})"
        )

    @property
    def confirmation_message(self) -> str | None:
        """The message of a start confirmation."""
        return self.message if self.kind is RequestKind.confirmation else None

    @property
    def iteration_review_message(self) -> str | None:
        """The message of a review (of a loop iteration or a step's output)."""
        return self.message if self.kind is RequestKind.review else None

    output_review_message = iteration_review_message

    @property
    def requires_confirmation(self) -> bool:
        """Whether this asks to start the step or loop."""
        return self.kind is RequestKind.confirmation

    @property
    def requires_output_review(self) -> bool:
        """Whether this asks to accept an output."""
        return self.kind is RequestKind.review

    def confirm(self) -> None:
        """Accept: start the loop (or step), or keep the output under review.

        Raises:
            DeadlinePassed: the deadline has passed; the timeout action was applied instead.
            StaleRequest: the request is no longer pending (decided elsewhere, timed out,
                cancelled).
        """
        self._decide(Verdict.confirm, None)

    def reject(self, feedback: str | None = None) -> None:
        """Reject, optionally with feedback for the next iteration (`on_reject` applies).

        Raises:
            DeadlinePassed: the deadline has passed; the timeout action was applied instead.
            StaleRequest: the request is no longer pending.
        """
        self._decide(Verdict.reject, feedback)

    def _decide(self, verdict: Verdict, feedback: str | None) -> None:
        workflow = self._output._workflow
        result = workflow.store.decide(
            self._output.run_id,
            self.request_id,
            verdict,
            feedback,
            decision_id=self._decisions[verdict],
            now=None if workflow._clock is None else workflow.now(),
            seen=self._output.record,
        )
        self._output._record = result.run


class RunOutput:
    """A workflow run as seen by its caller: status, content, results and pending requests.

    It reflects the run when it was read; `Workflow.get_run` reads it again.
    """

    __slots__ = ("_record", "_workflow")

    def __init__(self, record: RunRecord, workflow: Workflow) -> None:
        self._record = record
        self._workflow = workflow

    def __repr__(self) -> str:
        return (
            f"RunOutput(run_id={self.run_id!r}, status={self.status.value}, version={self.version})"
        )

    @property
    def record(self) -> RunRecord:
        """The stored snapshot this output shows."""
        return self._record

    @property
    def run_id(self) -> str:
        return self._record.run_id

    @property
    def workflow_name(self) -> str:
        return self._record.workflow

    @property
    def status(self) -> RunStatus:
        return self._record.status

    @property
    def version(self) -> int:
        return self._record.version

    @property
    def input(self) -> JSON:
        """The run's input (a copy: changing it changes nothing stored)."""
        return json_copy(self._record.input)

    @property
    def error(self) -> str | None:
        """The error of the failed step, when the status is failed."""
        return self._record.error

    @property
    def is_paused(self) -> bool:
        return self._record.status is RunStatus.paused

    @property
    def content(self) -> JSON:
        """The content of the last step that produced one (skipped steps produce none)."""
        results = self._record.results
        return json_copy(results[-1].content) if results else None

    @property
    def step_results(self) -> list[StepOutput]:
        """The output of every finished step and loop, in the order they finished."""
        return [
            StepOutput(content=json_copy(r.content), step_name=r.name) for r in self._record.results
        ]

    @property
    def states(self) -> dict[str, State]:
        """Every gate of the workflow by name (each loop, each reviewed step), with its state."""
        stored = {gate.name: gate.state for gate in self._record.gates}
        return {name: stored.get(name, State.pending) for name in self._workflow._gated}

    @property
    def requirements(self) -> list[StepRequirement]:
        """The pending requests: at most one, since a run pauses at one gate at a time."""
        gate = self._record.pending_gate
        return [StepRequirement(self, gate)] if gate is not None and self.is_paused else []

    @property
    def steps_requiring_confirmation(self) -> list[StepRequirement]:
        return [r for r in self.requirements if r.kind is RequestKind.confirmation]

    @property
    def steps_requiring_output_review(self) -> list[StepRequirement]:
        """Review requests, of a loop iteration or of a step's output alike."""
        return [r for r in self.requirements if r.kind is RequestKind.review]


@attrs.frozen
class Session:
    """Every stored run of one workflow, oldest first.

    Attributes:
        unreadable: runs of the store that could not be read (a `CorruptRun` each): left out
            of `runs`, never the reason the others are not listed.
    """

    workflow_name: str
    runs: list[RunOutput]
    unreadable: list[CorruptRun] = attrs.field(factory=list)


class Workflow:
    """Steps and loops run in order, with human gates, persisted in a store.

    Args:
        name: identifies the workflow's runs in the store.
        steps: `Step` and `Loop` objects, run in order. Names must be unique, loop bodies
            included.
        store: where runs live (default: a new in-memory `MemoryStore`).
        clock: a zero-argument callable returning a timezone-aware `datetime` (default: the
            store's clock, `store.now`: this host's UTC clock, or the Redis server's). It
            stamps deadlines and decisions.

    Raises:
        DefinitionError (a ValueError): a bad name, duplicate step names, or a bad step.
    """

    def __init__(
        self,
        name: str,
        steps: Sequence[Step | Loop],
        store: Store | None = None,
        clock: Clock | None = None,
        description: str | None = None,
    ) -> None:
        self.name = _check_name("Workflow", name)
        self.steps: tuple[Step | Loop, ...] = tuple(steps)
        self.store = store if store is not None else MemoryStore()
        if not isinstance(self.store, Store):
            raise DefinitionError(f"Workflow {name!r}: store must be a Store, not {store!r}")
        if clock is not None and not callable(clock):
            raise DefinitionError(f"Workflow {name!r}: clock must be callable, not {clock!r}")
        self._clock = clock
        self.description = description
        if not self.steps:
            raise DefinitionError(f"Workflow {name!r} needs at least one step")
        seen: set[str] = set()
        for step in self.steps:
            if not isinstance(step, Step | Loop):
                raise DefinitionError(f"Workflow {name!r}: {step!r} is not a Step or a Loop")
            named: tuple[Step | Loop, ...] = (
                (step, *step.steps) if isinstance(step, Loop) else (step,)
            )
            for each in named:
                if each.name in seen:
                    raise DefinitionError(f"Workflow {name!r}: two steps are named {each.name!r}")
                seen.add(each.name)
        self._index = {step.name: position for position, step in enumerate(self.steps)}
        self._gated = [step.name for step in self.steps if step.is_gated]
        shape = json.dumps([_describe(step) for step in self.steps], sort_keys=True)
        import hashlib  # here, not at import: loading OpenSSL's hashes takes milliseconds

        self.fingerprint = hashlib.sha256(shape.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        names = [step.name for step in self.steps]
        return f"Workflow(name={self.name!r}, steps={names}, store={self.store!r})"

    # Public API

    @overload
    def run(
        self,
        input: JSON = None,
        *,
        stream: Literal[False] = False,
        stream_events: bool = False,
        run_id: str | None = None,
    ) -> RunOutput: ...

    @overload
    def run(
        self,
        input: JSON = None,
        *,
        stream: Literal[True],
        stream_events: bool = False,
        run_id: str | None = None,
    ) -> Iterator[WorkflowEvent]: ...

    def run(
        self,
        input: JSON = None,
        *,
        stream: bool = False,
        stream_events: bool = False,
        run_id: str | None = None,
    ) -> RunOutput | Iterator[WorkflowEvent]:
        """Start a new run and execute it until it pauses, completes, is cancelled or fails.

        Args:
            input: the run's input, a JSON value (usually a string).
            stream: return an iterator of events instead of the final `RunOutput`.
            stream_events: with `stream`, also yield step and iteration events, not only the
                final one.
            run_id: the new run's id (default: a random one).

        A step's exception does not raise: the run comes back `failed`.

        Raises:
            RunExists: a run with this id exists.
            InvalidRunId: the run id is not acceptable.
            InvalidArgument: the input is not a JSON value.
        """
        run_id = self.submit(input, run_id=run_id)
        events = self._execute(run_id, None, stream_events)
        return events if stream else self._finish(events)

    def submit(self, input: JSON = None, *, run_id: str | None = None) -> str:
        """Store a new run, runnable, without executing it: a `Worker` will.

        Returns:
            The run id.

        Raises:
            RunExists: a run with this id exists.
            InvalidRunId: the run id is not acceptable.
            InvalidArgument: the input is not a JSON value.
        """
        if problem := json_problem(input, "the workflow input"):
            raise InvalidArgument(problem)
        run_id = check_run_id(run_id if run_id is not None else new_id())
        now = self.now()
        self.store.create(
            RunRecord(
                run_id=run_id,
                workflow=self.name,
                fingerprint=self.fingerprint,
                status=RunStatus.pending,
                input=json_copy(input),  # the caller keeps no handle on what is stored
                cursor=self.steps[0].name,
                outline=tuple((step.name, _kind(step)) for step in self.steps),
                created_at=now,
                updated_at=now,
            )
        )
        return run_id

    def bind(self, store: Store) -> Workflow:
        """This workflow (the same steps, name and clock choice) on another store."""
        bound = copy.copy(self)
        bound.store = store
        return bound

    @property
    def clock(self) -> Clock:
        """The clock that stamps this workflow's deadlines and decisions."""
        return self._clock if self._clock is not None else self.store.now

    def now(self) -> datetime:
        """The time by this workflow's clock, checked: a clock that answers with a naive
        datetime (or not a datetime) is refused with `InvalidArgument` before anything is
        written, since what it stamped could never be read back."""
        return aware(self.clock(), "the workflow's clock")

    @overload
    def continue_run(
        self,
        run: RunOutput | str,
        *,
        stream: Literal[False] = False,
        stream_events: bool = False,
    ) -> RunOutput: ...

    @overload
    def continue_run(
        self,
        run: RunOutput | str,
        *,
        stream: Literal[True],
        stream_events: bool = False,
    ) -> Iterator[WorkflowEvent]: ...

    def continue_run(
        self, run: RunOutput | str, *, stream: bool = False, stream_events: bool = False
    ) -> RunOutput | Iterator[WorkflowEvent]:
        """Execute a run from where it stands, in this process or any other.

        Args:
            run: a `RunOutput` (the run must not have changed since it was read, other than by
                this process's own decisions) or a run id (the run as it is stored now).

        Returns:
            As `run`. A run still waiting for a decision comes back paused, unchanged; a
            finished one comes back as it is.

        Raises:
            ConflictError: the run changed since the given `RunOutput` was read, or another
                process is executing it (`RunBusy`); no user code ran.
            DefinitionChanged: the run's current step is not in this workflow any more under
                the same name and kind.
            RunNotFound: there is no such run.
            InvalidRunId: the run id is not acceptable.
        """
        if isinstance(run, RunOutput):
            run_id, seen = run.run_id, run.record
        else:
            run_id, seen = check_run_id(run), None
        events = self._execute(run_id, seen, stream_events)
        return events if stream else self._finish(events)

    def get_run(self, run_id: str) -> RunOutput:
        """The run as stored, with an overdue timeout applied first. Raises `RunNotFound`."""
        return RunOutput(self.store.get(run_id, now=self.now()), self)

    def get_session(self) -> Session:
        """Every stored run of this workflow, oldest first."""
        runs = self.store.list_runs(self.name, now=self.now())
        return Session(self.name, [RunOutput(run, self) for run in runs], runs.unreadable)

    def cancel_run(self, run_id: str) -> RunOutput:
        """Cancel the run; a process executing it stops at its next commit."""
        return RunOutput(self.store.cancel(run_id, now=self.now()), self)

    # Execution

    def _finish(self, events: Generator[WorkflowEvent, None, RunRecord]) -> RunOutput:
        while True:
            try:
                next(events)
            except StopIteration as stop:
                return RunOutput(stop.value, self)

    def _execute(
        self, run_id: str, seen: RunRecord | None, stream_events: bool
    ) -> Generator[WorkflowEvent, None, RunRecord]:
        with self.store.hold(run_id) as lease:
            run = self._prepare(lease, seen)
            return (yield from self._drive(run, stream_events, lease))

    def _prepare(self, lease: Lease, seen: RunRecord | None = None) -> RunRecord:
        """The run to execute: the caller's, if no one changed it since (every write raises
        the version, so the same version is the same run), else the stored one."""
        if seen is None:
            run = self.store.load(lease.run_id)
        else:
            stored = self.store.version(lease.run_id)
            if stored != seen.version:
                raise ConflictError(seen.run_id, seen.version, stored)
            run = seen
        expired = expire(run, self.now())
        if expired is not None:  # a read never shows a pause past its deadline
            self.store.commit(expired, run.version, lease=lease)
            run = expired
        self._check_definition(run)
        return run

    def run_unit(self, lease: Lease, retry: RetryPolicy | None = None) -> RunRecord:
        """Execute one unit of the leased run's work (a plain step, or one loop iteration),
        commit it fenced by the lease, and return the run as committed. What a worker does.

        The run is left `pending` if more work follows, so that any worker can take the next
        unit. A failing unit is retried after `retry`'s backoff, or dead-lettered once its
        attempts are used up (without `retry`: left for a person to retry).

        Raises:
            LeaseLost: the lease ran out before the commit; nothing was written.
            ConflictError: the run changed meanwhile (a decision or a cancellation came first).
            DefinitionChanged: the run's current step no longer fits this workflow.
            InvalidArgument: the run belongs to another workflow.
        """
        run = self._prepare(lease)
        events = self._drive(run, False, lease, units=1, retry=retry)
        while True:
            try:
                next(events)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def _check_definition(self, run: RunRecord) -> None:
        if run.workflow != self.name:
            raise InvalidArgument(f"run {run.run_id!r} belongs to workflow {run.workflow!r}")
        if run.fingerprint == self.fingerprint or run.cursor is None or run.status.is_finished:
            return
        position = self._index.get(run.cursor)
        if position is None:
            raise DefinitionChanged(run.run_id, run.cursor, "this workflow has no such step")
        was, now = dict(run.outline).get(run.cursor), _kind(self.steps[position])
        if was != now:
            raise DefinitionChanged(run.run_id, run.cursor, f"it was a {was}, it is now a {now}")

    def _drive(
        self,
        run: RunRecord,
        stream_events: bool,
        lease: Lease | None,
        *,
        units: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> Generator[WorkflowEvent, None, RunRecord]:
        committed = run.version
        worked = 0  # units of user code run so far
        if stream_events:
            yield WorkflowStartedEvent(run.run_id, self.name, run.cursor)
        while True:
            if run.status.is_finished:
                committed = self._commit(run, committed, lease)
                yield WorkflowCompletedEvent(run.run_id, run.status, json_copy(_last_content(run)))
                return run
            assert run.cursor is not None
            step = self.steps[self._index[run.cursor]]
            gate = run.gate(step.name)
            if gate is None and step.is_gated:
                gate = Gate(
                    name=step.name, policy=_policy(step), max_iterations=_max_iterations(step)
                )
            if gate is not None and gate.state is State.pending:
                run, _ = apply_event(run, gate, Start(), self.now(), live=RunStatus.running)
                continue
            if gate is not None and gate.state.is_paused:
                committed = self._commit(run, committed, lease)
                yield _paused(run, gate)
                return run
            if gate is not None and gate.is_terminal:
                content = gate.outputs[-1] if gate.state is State.done else None
                run = finish_step(
                    run, step.name, content, gate.state, self._after(step), self.now()
                )
                if stream_events:
                    yield StepCompletedEvent(run.run_id, step.name, gate.state, json_copy(content))
                continue
            # Before more user code runs, store what the last unit did. Changes that need no
            # user code (a gate started, the cursor moved) can wait: they are derived again.
            if worked:
                if units is not None and worked >= units:
                    # Done here: hand the next unit to whichever worker is free.
                    run = attrs.evolve(run, status=RunStatus.pending)
                    self._commit(run, committed, lease)
                    return run
                committed = self._commit(run, committed, lease)
            worked += 1
            try:
                if gate is None:
                    assert isinstance(step, Step)
                    run = yield from self._plain_step(run, step, stream_events)
                else:
                    run = yield from self._iteration(run, step, gate, stream_events)
            except _StepFailed as failure:
                now = self.now()
                retry_at = None if retry is None else retry.next_attempt(run.attempts + 1, now)
                run = fail(run, failure.name, failure.error, now, retry_at=retry_at)
                committed = self._commit(run, committed, lease)
                yield WorkflowFailedEvent(run.run_id, failure.name, failure.error)
                return run
            if run.attempts or run.retry_at is not None:  # it worked: forget earlier failures
                run = attrs.evolve(run, attempts=0, retry_at=None)

    def _commit(self, run: RunRecord, committed: int, lease: Lease | None) -> int:
        if run.version != committed:
            self.store.commit(run, committed, lease=lease)
        return run.version

    def _after(self, step: Step | Loop) -> str | None:
        position = self._index[step.name] + 1
        return self.steps[position].name if position < len(self.steps) else None

    def _inputs(self, run: RunRecord) -> dict[str, StepOutput]:
        return {
            r.name: StepOutput(content=json_copy(r.content), step_name=r.name) for r in run.results
        }

    def _plain_step(
        self, run: RunRecord, step: Step, stream_events: bool
    ) -> Generator[WorkflowEvent, None, RunRecord]:
        if stream_events:
            yield StepStartedEvent(run.run_id, step.name)
        step_input = StepInput(
            input=json_copy(run.input),
            previous_step_content=json_copy(_last_content(run)),
            previous_step_outputs=self._inputs(run),
            run_id=run.run_id,
            step_name=step.name,
            idempotency_key=f"{run.run_id}:{step.name}",
        )
        output = _guarded(step, step_input)
        run = finish_step(run, step.name, output.content, State.done, self._after(step), self.now())
        if stream_events:
            yield StepCompletedEvent(run.run_id, step.name, State.done, json_copy(output.content))
        return run

    def _iteration(
        self, run: RunRecord, step: Step | Loop, gate: Gate, stream_events: bool
    ) -> Generator[WorkflowEvent, None, RunRecord]:
        due = RunIteration.for_gate(gate)
        k = due.iteration
        rejected = gate.policy.reviews_iterations and k >= 2
        additional: dict[str, JSON] = (
            {"rejection_feedback": due.feedback, "previous_output": json_copy(due.previous_output)}
            if rejected
            else {}
        )
        before = _last_content(run)
        if isinstance(step, Loop):
            body: tuple[Step, ...] = tuple(step.steps)
            content = due.previous_output if step.forward_iteration_output and k >= 2 else before
            iteration: int | None = k
            if stream_events:
                yield LoopIterationStartedEvent(
                    run.run_id, step.name, k, gate.max_iterations, due.feedback
                )
        else:
            body, content, iteration = (step,), before, None
            if stream_events:
                yield StepStartedEvent(run.run_id, step.name)
        outputs = self._inputs(run)
        step_input = None
        for each in body:
            step_input = StepInput(
                input=json_copy(run.input),
                previous_step_content=json_copy(content),
                previous_step_outputs=dict(outputs),
                additional_data=additional,
                iteration=iteration,
                run_id=run.run_id,
                step_name=each.name,
                idempotency_key=f"{run.run_id}:{gate.name}:{k}"
                + (f":{each.name}" if len(body) > 1 else ""),
            )
            output = _guarded(each, step_input)
            outputs[each.name] = attrs.evolve(output, content=json_copy(output.content))
            content = output.content
        should_continue = True
        if (
            isinstance(step, Loop)
            and step.should_continue is not None
            and not gate.policy.reviews_iterations
        ):
            assert step_input is not None
            check = attrs.evolve(
                step_input,
                previous_step_content=json_copy(content),
                previous_step_outputs=dict(outputs),
            )
            try:
                should_continue = bool(step.should_continue(check, k))
            except Exception as exc:
                raise _StepFailed(step.name, exc) from exc
        run, _ = apply_event(
            run,
            gate,
            IterationCompleted(content, should_continue),
            self.now(),
            live=RunStatus.running,
        )
        if stream_events and isinstance(step, Loop):
            yield LoopIterationCompletedEvent(run.run_id, step.name, k, json_copy(content))
        return run


def _guarded(step: Step, step_input: StepInput) -> StepOutput:
    try:
        return _run_step(step, step_input)
    except Exception as exc:
        raise _StepFailed(step.name, exc) from exc


def _last_content(run: RunRecord) -> JSON:
    return run.results[-1].content if run.results else None
