"""What a workflow is made of: `Step` and `Loop` definitions, and the values their user code
receives and returns (`StepInput`, `StepOutput`). Definitions are checked when they are built;
nothing here runs user code."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from statemachine.core.errors import DefinitionChanged, DefinitionError, InvalidArgument
from statemachine.core.events import JSON
from statemachine.core.policy import HumanReview
from statemachine.core.record import RunRecord

__all__ = [
    "Definition",
    "Executor",
    "Loop",
    "Step",
    "StepInput",
    "StepOutput",
    "describe",
    "kind_of",
]


@attrs.frozen
class StepOutput:
    """What a step produced. `content` must be a JSON value: it is stored with the run."""

    content: JSON = None
    step_name: str | None = None


@attrs.frozen(kw_only=True)
class StepInput:
    """What a step's executor receives: copies of stored values, so that changing them cannot
    change what is stored.

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
"""``fn(step_input) -> StepOutput | JSON``, or an ``async def`` returning the same."""


def check_name(kind: str, name: object) -> str:
    """`name` if it is a usable name for a `kind`, else `DefinitionError`."""
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError(f"a {kind} needs a non-empty name, not {name!r}")
    if not name.isprintable() or len(name) > 200:
        raise DefinitionError(f"a {kind}'s name must be printable and at most 200 characters")
    return name


def _review(kind: str, name: str, review: object) -> HumanReview | None:
    if review is not None and not isinstance(review, HumanReview):
        raise DefinitionError(f"{kind} {name!r}: human_review must be a HumanReview")
    return review


@attrs.frozen(kw_only=True)
class Step:
    """One unit of work: an `executor` function, or an `agent` with a ``run(message)`` method.

    Attributes:
        name: unique within the workflow; runs refer to steps by name.
        executor: ``fn(step_input) -> StepOutput | str | JSON``, or an ``async def``. Under
            the asyncio API it is awaited; under the synchronous API it runs to completion on
            an event loop of its own.
        agent: any object whose ``run(message)`` returns something with ``.content`` (an
            agent from another framework plugs in); under the asyncio API its ``arun`` is
            awaited when it has one. Its message is the previous step's content (or the
            workflow input), with reviewer feedback appended after a rejection.
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
        check_name("Step", self.name)
        if (self.executor is None) == (self.agent is None):
            raise DefinitionError(f"Step {self.name!r} needs exactly one of executor= or agent=")
        if self.executor is not None and not callable(self.executor):
            raise DefinitionError(f"Step {self.name!r}: executor must be callable")
        if self.agent is not None and not callable(getattr(self.agent, "run", None)):
            raise DefinitionError(f"Step {self.name!r}: agent must have a run(message) method")
        review = _review("Step", self.name, self.human_review)
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

    @property
    def is_async(self) -> bool:
        """Whether its user code is a coroutine function (or an agent with ``arun``)."""
        if self.executor is not None:
            return inspect.iscoroutinefunction(self.executor)
        return inspect.iscoroutinefunction(getattr(self.agent, "arun", None))


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
        should_continue: ``fn(step_input, iteration) -> bool`` (or an ``async def``), asked
            after each iteration of a loop without iteration review (with review, the
            reviewer decides). None runs every iteration.
        forward_iteration_output: iteration k + 1's ``previous_step_content`` is iteration
            k's output, instead of the content from before the loop.
        human_review: ``requires_confirmation`` and/or ``requires_iteration_review``.

    Raises:
        DefinitionError (a ValueError): as for `Step`, or an empty body or nested loop.
    """

    name: str
    steps: tuple[Step, ...] = attrs.field(converter=_as_steps)
    max_iterations: int = 3
    should_continue: Callable[[StepInput, int], Any] | None = None
    forward_iteration_output: bool = False
    human_review: HumanReview | None = None
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        check_name("Loop", self.name)
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
        if type(self.max_iterations) is not int or not 1 <= self.max_iterations <= 10_000:
            raise DefinitionError(
                f"Loop {self.name!r}: max_iterations must be an integer from 1 to 10,000"
            )
        if self.should_continue is not None and not callable(self.should_continue):
            raise DefinitionError(f"Loop {self.name!r}: should_continue must be callable")
        review = _review("Loop", self.name, self.human_review)
        if review is not None and review.requires_output_review:
            raise DefinitionError(
                f"Loop {self.name!r}: requires_output_review is for Step; a Loop supports "
                "requires_confirmation and requires_iteration_review"
            )

    @property
    def is_gated(self) -> bool:
        """Every loop is a gate, with or without humans."""
        return True


def kind_of(step: Step | Loop) -> str:
    """The kind a run records for each top-level step, to tell a changed definition."""
    if isinstance(step, Loop):
        return "loop"
    return "reviewed step" if step.is_gated else "step"


def policy_of(step: Step | Loop) -> HumanReview:
    """The gate's policy (a loop without humans has the default one)."""
    return step.human_review if step.human_review is not None else HumanReview()


def max_iterations_of(step: Step | Loop) -> int:
    """A loop's maximum; a reviewed step is a loop of one iteration."""
    return step.max_iterations if isinstance(step, Loop) else 1


def _plain(instance: object, field: object, value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def describe(step: Step | Loop) -> dict[str, Any]:
    """The step's shape (names, kinds, policies): what a workflow's fingerprint is made of."""
    shape: dict[str, Any] = {"name": step.name, "kind": type(step).__name__}
    if step.human_review is not None:
        shape["policy"] = attrs.asdict(step.human_review, value_serializer=_plain)
    if isinstance(step, Loop):
        shape.update(
            max_iterations=step.max_iterations,
            forward=step.forward_iteration_output,
            body=[describe(body) for body in step.steps],
        )
    return shape


@attrs.frozen
class Definition:
    """What the driver needs of a workflow: its name, steps in order, and fingerprint."""

    name: str
    steps: tuple[Step | Loop, ...]
    fingerprint: str
    index: dict[str, int] = attrs.field(eq=False)

    def check(self, run: RunRecord) -> None:
        """Refuse a run this definition cannot execute.

        Raises:
            InvalidArgument: the run belongs to another workflow.
            DefinitionChanged: the run's current step is not here any more, under the same
                name and kind.
        """
        if run.workflow != self.name:
            raise InvalidArgument(f"run {run.run_id!r} belongs to workflow {run.workflow!r}")
        if run.fingerprint == self.fingerprint or run.cursor is None or run.status.is_finished:
            return
        position = self.index.get(run.cursor)
        if position is None:
            raise DefinitionChanged(run.run_id, run.cursor, "this workflow has no such step")
        was, now = dict(run.outline).get(run.cursor), kind_of(self.steps[position])
        if was != now:
            raise DefinitionChanged(run.run_id, run.cursor, f"it was a {was}, it is now a {now}")

    def after(self, step: Step | Loop) -> str | None:
        """The name of the step after `step`, or None after the last."""
        position = self.index[step.name] + 1
        return self.steps[position].name if position < len(self.steps) else None
