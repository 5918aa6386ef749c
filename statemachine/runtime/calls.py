"""Calling user code: executors, agents and `should_continue`, synchronously or awaited.

What user code returns is checked (a JSON value, storable) and copied, so that it keeps no
handle on what is stored. An exception from user code is not raised here: it comes back as a
`Failed` value with the error's text, for the driver to record. A `BaseException` that is not
an `Exception` (a cancelled task, Ctrl-C) goes through untouched.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from statemachine.core.errors import InvalidArgument
from statemachine.core.events import JSON, json_copy, json_problem
from statemachine.runtime.definitions import Step, StepInput, StepOutput

if TYPE_CHECKING:
    from statemachine.runtime.effects import Branch

__all__ = [
    "TRACEBACK_CHARS", "Failed", "aask", "acall", "afork", "ask", "call", "error_text", "fork",
    "traceback_text",
]  # fmt: skip

T = TypeVar("T")


@attrs.frozen
class Failed:
    """User code raised: `error` is the exception's text, `traceback` its traceback (the
    last `TRACEBACK_CHARS`), both kept with the run."""

    step_name: str
    error: str
    traceback: str | None = None

    @classmethod
    def of(cls, name: str, exc: BaseException) -> Failed:
        return cls(name, error_text(exc), traceback_text(exc))


TRACEBACK_CHARS = 8192
"""How much of a failure's traceback a run keeps: its end, where the error is."""


def _storable(text: str) -> str:
    return text.encode(errors="backslashreplace").decode()  # a lone surrogate stays storable


def error_text(exc: BaseException) -> str:
    """The exception as one stored text: its type and message, cut to 2,000 characters."""
    import traceback

    lines = traceback.format_exception_only(type(exc), exc)
    return _storable("".join(lines).strip()[:2000])


def traceback_text(exc: BaseException) -> str:
    """The exception's traceback as stored: its last `TRACEBACK_CHARS` characters."""
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    return _storable(text[-TRACEBACK_CHARS:])


def content_of(result: object, step: Step) -> JSON:
    """The content a step's result carries, checked and copied.

    Raises:
        InvalidArgument: the content is not a storable JSON value.
    """
    if isinstance(result, StepOutput):
        content = result.content
    elif step.agent is not None:
        content = getattr(result, "content", result)
    else:
        content = result
    if problem := json_problem(content, f"the content of step {step.name!r}"):
        raise InvalidArgument(problem)
    return json_copy(content)


def message_of(step_input: StepInput) -> str:
    """What an agent is asked: the previous content (or the input), with any feedback."""
    base = step_input.previous_step_content
    if base is None:
        base = step_input.input
    text = base if isinstance(base, str) else json.dumps(base)
    feedback = step_input.additional_data.get("rejection_feedback")
    if feedback:
        text += f"\n\nReviewer feedback on the previous attempt: {feedback}"
    values = step_input.additional_data.get("user_input")
    if isinstance(values, dict) and values:
        preferences = "\n".join(f"- {key}: {value}" for key, value in values.items())
        text += f"\n\nUser preferences:\n{preferences}"
    return text


def _awaited(result: Awaitable[T]) -> T:
    """The awaitable's result, for synchronous callers: on an event loop of its own (in a
    thread of its own when this thread already runs a loop)."""

    import asyncio  # here: only a synchronous caller of asynchronous code needs them
    from concurrent.futures import ThreadPoolExecutor

    async def wait() -> T:
        return await result

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with ThreadPoolExecutor(1, thread_name_prefix="statemachine-async") as pool:
        return pool.submit(asyncio.run, wait()).result()


def _invoke(step: Step, step_input: StepInput, prefer_async: bool) -> Any:
    if step.agent is None:
        assert step.executor is not None
        return step.executor(step_input)
    arun = getattr(step.agent, "arun", None)
    if prefer_async and arun is not None:
        return arun(message_of(step_input))
    return step.agent.run(message_of(step_input))


_PLAIN = frozenset({str, dict, list, int, float, bool, type(None), StepOutput})  # not awaitable


def call(step: Step, step_input: StepInput) -> StepOutput | Failed:
    """Run the step's user code to completion (an ``async def`` on a loop of its own)."""
    try:
        result = _invoke(step, step_input, prefer_async=False)
        if type(result) not in _PLAIN and inspect.isawaitable(result):
            result = _awaited(result)
        return StepOutput(content=content_of(result, step), step_name=step.name)
    except Exception as exc:
        return Failed.of(step.name, exc)


async def acall(step: Step, step_input: StepInput) -> StepOutput | Failed:
    """Await the step's user code (a synchronous executor runs on the event loop's thread)."""
    try:
        result = _invoke(step, step_input, prefer_async=True)
        if inspect.isawaitable(result):
            result = await result
        return StepOutput(content=content_of(result, step), step_name=step.name)
    except Exception as exc:
        return Failed.of(step.name, exc)


def ask(function: Callable[..., Any], args: tuple[Any, ...], name: str) -> Any:
    """Call user code that decides (an evaluator, a selector, a predicate, `should_continue`)
    to completion: what it returned, or `Failed`."""
    try:
        answer = function(*args)
        return _awaited(answer) if inspect.isawaitable(answer) else answer
    except Exception as exc:
        return Failed.of(name, exc)


async def aask(function: Callable[..., Any], args: tuple[Any, ...], name: str) -> Any:
    """`ask`, awaiting it if it is asynchronous."""
    try:
        answer = function(*args)
        return await answer if inspect.isawaitable(answer) else answer
    except Exception as exc:
        return Failed.of(name, exc)


def fork(branches: tuple[Branch, ...]) -> tuple[Any, ...]:
    """Carry out the branches of a Parallel, each in a thread of its own."""
    if len(branches) == 1:
        return (_drain(branches[0]),)
    from concurrent.futures import ThreadPoolExecutor  # here: only a Parallel needs threads

    with ThreadPoolExecutor(len(branches), thread_name_prefix="statemachine-parallel") as pool:
        return tuple(pool.map(_drain, branches))


async def afork(branches: tuple[Branch, ...]) -> tuple[Any, ...]:
    """Carry out the branches of a Parallel as tasks of the running event loop."""
    import asyncio

    return tuple(await asyncio.gather(*(_adrain(branch) for branch in branches)))


def _drain(branch: Branch) -> Any:
    value: Any = None
    while True:
        try:
            effect = branch.send(value)
        except StopIteration as stop:
            return stop.value
        value = call(effect.step, effect.step_input)


async def _adrain(branch: Branch) -> Any:
    value: Any = None
    while True:
        try:
            effect = branch.send(value)
        except StopIteration as stop:
            return stop.value
        value = await acall(effect.step, effect.step_input)


def coroutine(function: Callable[..., Coroutine[Any, Any, T]]) -> bool:
    """Whether `function` is an ``async def``."""
    return inspect.iscoroutinefunction(function)
