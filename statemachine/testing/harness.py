"""`Harness`: a workflow under test, with scripted humans and virtual time.

As Temporal's time-skipping test environment does for its workflows, the harness runs the
real runtime on a real store while time only moves when the test says so: `advance(seconds)`
moves the clock and fires what is due through the store's own sweep (`expire_due`, the code
a worker runs), never a sleep. Decisions go through the same requirements and store calls a
person's would, recorded as made by `by`::

    harness = Harness(workflow)
    harness.run("draft a memo")
    harness.expect_pause("review", kind="review")
    harness.reject("shorter")
    harness.expect_pause("review")
    harness.advance(3600)                  # the review times out: on_timeout applies
    harness.expect_status("completed")
    assert [d.decision for d in harness.audit] == ["reject", "timeout"]

Every `expect_*` raises `AssertionError` with what the run was doing instead, so pytest shows
it. The asyncio API has the same methods with an ``a`` prefix (`arun`, `aconfirm`, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from statemachine.core.decisions import Verdict
from statemachine.core.errors import InvalidArgument
from statemachine.core.events import JSON
from statemachine.core.record import RequestKind, RunStatus
from statemachine.store.memory import MemoryStore

if TYPE_CHECKING:
    from statemachine.runtime.handles import RunOutput
    from statemachine.runtime.history import DecidedRequirement
    from statemachine.runtime.requirements import StepRequirement
    from statemachine.runtime.workflow import Workflow
    from statemachine.store.protocol import Store

__all__ = ["Harness", "VirtualClock"]

START = datetime(2030, 1, 1, tzinfo=UTC)


class VirtualClock:
    """A clock that moves only when told to: `advance(seconds)`."""

    def __init__(self, start: datetime = START) -> None:
        if start.utcoffset() is None:
            raise InvalidArgument("a VirtualClock needs a timezone-aware start")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Harness:
    """Run `workflow` on `store` (default: a new `MemoryStore`) under a `VirtualClock`.

    Attributes:
        workflow: the workflow, bound to the harness's store and clock.
        clock: the virtual clock; `advance` moves it.
        by: who the scripted decisions are recorded as made by.
    """

    def __init__(
        self,
        workflow: Workflow,
        store: Store | None = None,
        *,
        start: datetime = START,
        by: str = "harness",
    ) -> None:
        self.clock = VirtualClock(start)
        self.store = store if store is not None else MemoryStore()
        self.workflow = workflow.bind(self.store, clock=self.clock)
        self.by = by
        self._run: RunOutput | None = None

    # The run

    @property
    def output(self) -> RunOutput:
        """The run as it last stood (after the harness's last call)."""
        if self._run is None:
            raise AssertionError("no run yet: call run() first")
        return self._run

    @property
    def audit(self) -> list[DecidedRequirement]:
        """Every request of the run that was answered: by whom, when, what."""
        return self.output.decided_requirements

    def run(self, input: JSON = None, **options: Any) -> RunOutput:
        """Start the run; it goes as far as it can (a pause, the end, a failure)."""
        self._run = self.workflow.run(input, **options)
        return self._run

    async def arun(self, input: JSON = None, **options: Any) -> RunOutput:
        self._run = await self.workflow.arun(input, **options)
        return self._run

    # Expectations

    def expect_pause(
        self, step_name: str | None = None, kind: str | None = None
    ) -> StepRequirement:
        """The pending requirement, checked: the run is paused, at `step_name` (its name or
        key), asking for `kind` (``confirmation``, ``input``, ``route``, ``review``,
        ``error``)."""
        run = self.output
        pending = run.requirements
        if not run.is_paused or not pending:
            raise AssertionError(f"expected a pause, but the run is {self._state()}")
        asked = pending[0]
        if step_name is not None and step_name not in (asked.step_name, asked.step_path):
            raise AssertionError(f"expected a pause at {step_name!r}, but {self._state()}")
        if kind is not None and asked.kind is not RequestKind(kind):
            raise AssertionError(f"expected a {kind} request, but {self._state()}")
        return asked

    def expect_status(self, status: str | RunStatus) -> RunOutput:
        """The run, checked to be in `status` (``completed``, ``paused``, ...)."""
        wanted = status if isinstance(status, RunStatus) else RunStatus(status)
        if self.output.status is not wanted:
            raise AssertionError(f"expected the run {wanted.value}, but it is {self._state()}")
        return self.output

    def expect_content(self, content: JSON) -> RunOutput:
        """The run, checked to have finished its last step with `content`."""
        if self.output.content != content:
            raise AssertionError(f"expected content {content!r}, got {self.output.content!r}")
        return self.output

    def _state(self) -> str:
        run = self.output
        if run.is_paused and run.requirements:
            asked = run.requirements[0]
            return f"paused at {asked.step_path!r} for {asked.kind.value} ({asked.request_id})"
        if run.status is RunStatus.failed:
            return f"failed: {run.error}"
        return f"{run.status.value} (content {run.content!r})"

    # Decisions: each is recorded, then the run continues as far as it can

    def confirm(self) -> RunOutput:
        return self._decide(Verdict.confirm)

    def reject(self, feedback: str | None = None) -> RunOutput:
        return self._decide(Verdict.reject, feedback)

    def provide(self, **values: JSON) -> RunOutput:
        """Give the values a user-input request asks for."""
        return self._decide(Verdict.provide, value=dict(values))

    def select(self, *routes: str) -> RunOutput:
        return self._decide(Verdict.select, value=list(routes))

    def edit(self, output: JSON) -> RunOutput:
        return self._decide(Verdict.edit, value=output)

    def retry(self) -> RunOutput:
        return self._decide(Verdict.retry)

    def skip(self) -> RunOutput:
        return self._decide(Verdict.skip)

    async def aconfirm(self) -> RunOutput:
        return await self._adecide(Verdict.confirm)

    async def areject(self, feedback: str | None = None) -> RunOutput:
        return await self._adecide(Verdict.reject, feedback)

    async def aprovide(self, **values: JSON) -> RunOutput:
        return await self._adecide(Verdict.provide, value=dict(values))

    async def aselect(self, *routes: str) -> RunOutput:
        return await self._adecide(Verdict.select, value=list(routes))

    async def aedit(self, output: JSON) -> RunOutput:
        return await self._adecide(Verdict.edit, value=output)

    async def aretry(self) -> RunOutput:
        return await self._adecide(Verdict.retry)

    async def askip(self) -> RunOutput:
        return await self._adecide(Verdict.skip)

    def _decide(
        self, verdict: Verdict, feedback: str | None = None, value: JSON = None
    ) -> RunOutput:
        asked = self.expect_pause()
        self.store.decide(
            self.output.run_id, asked.request_id, verdict, feedback,
            now=self.clock(), value=value, by=self.by,
        )  # fmt: skip
        self._run = self.workflow.continue_run(self.output.run_id)
        return self._run

    async def _adecide(
        self, verdict: Verdict, feedback: str | None = None, value: JSON = None
    ) -> RunOutput:
        asked = self.expect_pause()
        await self.store.adecide(
            self.output.run_id, asked.request_id, verdict, feedback,
            now=self.clock(), value=value, by=self.by,
        )  # fmt: skip
        self._run = await self.workflow.acontinue_run(self.output.run_id)
        return self._run

    # Time

    def advance(self, seconds: float) -> list[str]:
        """Move the clock, fire what is due through the sweep a worker runs (timeouts,
        reminders, escalations), and let the run go on from where a timeout left it. Returns
        the ids of the runs whose timeout fired."""
        from statemachine.runtime.hooks import deliver_due

        self.clock.advance(seconds)
        fired = self.store.expire_due(now=self.clock())
        deliver_due([self.workflow], self.store, now=self.clock())  # reminders, escalations
        if self._run is not None:
            self._run = self.workflow.continue_run(self._run.run_id)
        return fired

    async def aadvance(self, seconds: float) -> list[str]:
        import asyncio

        from statemachine.runtime.hooks import deliver_due

        self.clock.advance(seconds)
        fired = await self.store.aexpire_due(now=self.clock())
        await asyncio.to_thread(deliver_due, [self.workflow], self.store, 1000, self.clock())
        if self._run is not None:
            self._run = await self.workflow.acontinue_run(self._run.run_id)
        return fired
