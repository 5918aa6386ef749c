"""What a workflow is made of: `Step` and `Loop` definitions (the containers are in
`containers`), and the values their user code receives and returns (`StepInput`,
`StepOutput`). Definitions are checked when they are built; nothing here runs user code.

Human gates are configured as the peer framework does: with ``human_review=HumanReview(...)``
or with its fields as keywords on the step (``requires_confirmation=True``, ...), which build
the same `HumanReview` and read back as attributes. Given both, `human_review` wins.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from statemachine.core.errors import DefinitionError, shorten
from statemachine.core.events import JSON
from statemachine.core.policy import (
    HumanReview,
    OnError,
    OnReject,
    OnTimeout,
    UserInputField,
    user_input_fields,
)
from statemachine.runtime.decorators import PAUSE_KEYS, paused_with

__all__ = [
    "Executor",
    "Loop",
    "Step",
    "StepInput",
    "StepOutput",
    "check_name",
    "settle_review",
]


@attrs.frozen
class StepOutput:
    """What a step produced. `content` must be a JSON value: it is stored with the run."""

    content: JSON = None
    step_name: str | None = None
    success: bool = True
    """Kept for the peer framework's code; a step that fails raises instead."""
    steps: list[StepOutput] | None = None
    """For a container's output under review: the outputs of the steps inside it that ran."""


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
            None) and ``previous_output`` (the rejected output); with user input,
            ``user_input`` (the values given, by field name).
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

    def get_step_content(self, name: str) -> JSON:
        """The content of the finished step called `name`, or None."""
        output = self.previous_step_outputs.get(name)
        return None if output is None else output.content


Executor: TypeAlias = Callable[[StepInput], Any]
"""``fn(step_input) -> StepOutput | JSON``, or an ``async def`` returning the same."""


def check_name(kind: str, name: object) -> str:
    """`name` if it is a usable name for a `kind`, else `DefinitionError`."""
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError(f"a {kind} needs a non-empty name, not {shorten(name)}")
    if not name.isprintable() or len(name) > 200:
        raise DefinitionError(f"a {kind}'s name must be printable and at most 200 characters")
    return name


# The human gates each kind of step supports, by the HumanReview field that asks for them.
_GATES = (
    "requires_confirmation",
    "requires_user_input",
    "requires_output_review",
    "requires_iteration_review",
)
# The flat keywords whose name differs from the HumanReview field they set.
_RENAMED = {"hitl_max_retries": "max_retries", "hitl_timeout": "timeout"}


def settle_review(
    owner: object,
    kind: str,
    given: object,
    flat: dict[str, Any],
    defaults: dict[str, Any],
    allowed: Iterable[str],
) -> HumanReview | None:
    """The gate policy of a step of `kind` (``"Step"``, ``"Loop"``, ...): `given`, or built from
    its `flat` keywords (None when they ask for nothing); the flat keywords are then set on
    `owner` from it, so that they read back what applies.

    Raises:
        DefinitionError: `given` is not a HumanReview, or asks for what `kind` does not support.
    """
    name = getattr(owner, "name", "?")
    if given is not None and not isinstance(given, HumanReview):
        raise DefinitionError(f"{kind} {name!r}: human_review must be a HumanReview")
    review = given
    if review is None and flat != defaults:
        fields = {_RENAMED.get(key, key): value for key, value in flat.items()}
        review = HumanReview(**fields)
    if review is None:
        return None
    allowed = set(allowed)
    for field in _GATES:
        asked = getattr(review, field)
        if asked is not False and field not in allowed:
            supported = ", ".join(sorted(allowed)) or "no human gate"
            raise DefinitionError(
                f"{kind} {name!r}: {field} is not supported (it supports {supported})"
            )
    if review.on_reject is OnReject.else_branch and kind != "Condition":
        raise DefinitionError(
            f"{kind} {name!r}: on_reject='else' is for a Condition's confirmation"
        )
    for key in flat:
        object.__setattr__(owner, key, getattr(review, _RENAMED.get(key, key)))
    return review


def _schema(value: object) -> tuple[UserInputField, ...] | None:
    return None if value is None else user_input_fields(value)


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
            workflow input), with reviewer feedback and user input appended.
        human_review: ``requires_confirmation``, ``requires_user_input`` and/or
            ``requires_output_review``, ``on_error``; or the same as keywords.
        max_retries: how many times a failing executor is called again at once, before
            `on_error` applies (0: none; a worker's `RetryPolicy` retries with backoff).

    Raises:
        DefinitionError (a ValueError): a missing name, both or neither of executor and agent,
            or a review option a Step does not support.
    """

    name: str
    executor: Executor | None = None
    agent: Any = None
    human_review: HumanReview | None = None
    description: str | None = None
    max_retries: int = 0
    requires_confirmation: bool = False
    confirmation_message: str | None = None
    on_reject: OnReject | str = OnReject.skip
    requires_user_input: bool = False
    user_input_message: str | None = None
    user_input_schema: tuple[UserInputField, ...] | None = attrs.field(
        default=None, converter=_schema
    )
    requires_output_review: bool | Callable[..., Any] = False
    output_review_message: str | None = None
    hitl_max_retries: int = 3
    hitl_timeout: float | None = None
    timeout: float | None = None
    """The same as `hitl_timeout`: seconds until `on_timeout` applies."""
    on_timeout: OnTimeout | str = OnTimeout.cancel
    on_error: OnError | str | None = None
    """What a failure does (`OnError`); None: as the container it is in says, else ``fail``."""

    def __attrs_post_init__(self) -> None:
        check_name("Step", self.name)
        if (self.executor is None) == (self.agent is None):
            raise DefinitionError(f"Step {self.name!r} needs exactly one of executor= or agent=")
        if self.executor is not None and not callable(self.executor):
            raise DefinitionError(f"Step {self.name!r}: executor must be callable")
        if self.agent is not None and not callable(getattr(self.agent, "run", None)):
            raise DefinitionError(f"Step {self.name!r}: agent must have a run(message) method")
        if type(self.max_retries) is not int or not 0 <= self.max_retries <= 100:
            raise DefinitionError(
                f"Step {self.name!r}: max_retries must be an integer from 0 to 100"
            )
        if (
            self.human_review is None
            and _flat_of_step(self) == _PLAIN_STEP
            and not paused_with(self.executor)
        ):
            return  # no gate at all: the common case, kept cheap
        for key, value in paused_with(self.executor).items():  # @pause: defaults only
            if key in PAUSE_KEYS and value and not getattr(self, key):
                converted = _schema(value) if key == "user_input_schema" else value
                object.__setattr__(self, key, converted)
        if self.timeout is not None:
            if self.hitl_timeout is not None and self.hitl_timeout != self.timeout:
                raise DefinitionError(f"Step {self.name!r}: timeout and hitl_timeout differ")
            object.__setattr__(self, "hitl_timeout", self.timeout)
        flat = {key: getattr(self, key) for key in _STEP_DEFAULTS}
        flat["user_input_schema"] = flat["user_input_schema"] or ()
        defaults = dict(_STEP_DEFAULTS)
        if self.on_error is not None:  # said here; else the container's applies
            flat["on_error"] = self.on_error
            defaults["on_error"] = OnError.fail
        allowed = ("requires_confirmation", "requires_user_input", "requires_output_review")
        review = settle_review(self, "Step", self.human_review, flat, defaults, allowed)
        if review is None and self.on_error is not None:
            object.__setattr__(self, "on_error", HumanReview(on_error=self.on_error).on_error)
        object.__setattr__(self, "human_review", review)
        object.__setattr__(self, "timeout", self.hitl_timeout)

    @property
    def is_async(self) -> bool:
        """Whether its user code is a coroutine function (or an agent with ``arun``)."""
        if self.executor is not None:
            return inspect.iscoroutinefunction(self.executor)
        return inspect.iscoroutinefunction(getattr(self.agent, "arun", None))


_STEP_DEFAULTS: dict[str, Any] = {
    "requires_confirmation": False,
    "confirmation_message": None,
    "on_reject": OnReject.skip,
    "requires_user_input": False,
    "user_input_message": None,
    "user_input_schema": (),
    "requires_output_review": False,
    "output_review_message": None,
    "hitl_max_retries": 3,
    "hitl_timeout": None,
    "on_timeout": OnTimeout.cancel,
}


# The flat keywords, then timeout and on_error, as a Step with no gate has them.
_flat_of_step = operator.attrgetter(*_STEP_DEFAULTS, "timeout", "on_error")
_PLAIN_STEP = (
    *(None if key == "user_input_schema" else value for key, value in _STEP_DEFAULTS.items()),
    None,
    None,
)


def _as_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    if isinstance(steps, str) or not isinstance(steps, Iterable):
        raise DefinitionError(f"a Loop's steps must be a list of Steps, not {shorten(steps)}")
    return tuple(steps)


_LOOP_DEFAULTS: dict[str, Any] = {
    "requires_confirmation": False,
    "confirmation_message": None,
    "on_reject": OnReject.skip,
    "requires_iteration_review": False,
    "iteration_review_message": None,
    "timeout": None,
    "on_timeout": OnTimeout.cancel,
}


@attrs.frozen(kw_only=True)
class Loop:
    """Steps repeated up to `max_iterations` times, with optional human gates.

    Attributes:
        name: unique within the workflow.
        steps: the body, run in order each iteration as one unit of work; the last one's
            content is the iteration's output. Body steps cannot have human gates of their own.
        max_iterations: at least 1.
        should_continue: ``fn(step_input, iteration) -> bool`` (or an ``async def``), asked
            after each iteration of a loop without iteration review (with review, the
            reviewer decides). None runs every iteration.
        forward_iteration_output: iteration k + 1's ``previous_step_content`` is iteration
            k's output, instead of the content from before the loop.
        human_review: ``requires_confirmation`` and/or ``requires_iteration_review`` (or the
            same as keywords), and ``on_error``.

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
    requires_confirmation: bool = False
    confirmation_message: str | None = None
    on_reject: OnReject | str = OnReject.skip
    requires_iteration_review: bool = False
    iteration_review_message: str | None = None
    timeout: float | None = None
    on_timeout: OnTimeout | str = OnTimeout.cancel

    def __attrs_post_init__(self) -> None:
        check_name("Loop", self.name)
        if not self.steps:
            raise DefinitionError(f"Loop {self.name!r} needs at least one step")
        for body in self.steps:
            if not isinstance(body, Step):
                raise DefinitionError(
                    f"Loop {self.name!r}: its steps must be Step objects, not {shorten(body)}"
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
        flat = {key: getattr(self, key) for key in _LOOP_DEFAULTS}
        allowed = ("requires_confirmation", "requires_iteration_review")
        review = settle_review(self, "Loop", self.human_review, flat, _LOOP_DEFAULTS, allowed)
        object.__setattr__(self, "human_review", review)
