"""A failed step waiting for a human (``on_error="pause"``): `ErrorRequirement`."""

from __future__ import annotations

from statemachine.core.decisions import Verdict
from statemachine.runtime.requirements import StepRequirement

__all__ = ["ErrorRequirement"]


class ErrorRequirement(StepRequirement):
    """A step that failed under ``on_error="pause"``: `retry()` runs it again (with its
    executor retries), `skip()` goes on without its output."""

    __slots__ = ()

    @property
    def error_message(self) -> str:
        """The exception's message."""
        return _split_error(self.message or "")[1]

    @property
    def error_type(self) -> str | None:
        """The exception's class name (``"ValueError"``), when the error names one."""
        return _split_error(self.message or "")[0]

    @property
    def decision(self) -> str | None:
        """``"retry"`` or ``"skip"`` once decided here."""
        return next((verdict.value for verdict in self._decisions), None)

    @property
    def needs_decision(self) -> bool:
        return not self._decisions

    def retry(self) -> None:
        """Run the failed step again."""
        self._decide(Verdict.retry)

    def skip(self) -> None:
        """Go on without the failed step's output."""
        self._decide(Verdict.skip)

    async def aretry(self) -> None:
        """`retry`, awaited."""
        await self._adecide(Verdict.retry)

    async def askip(self) -> None:
        """`skip`, awaited."""
        await self._adecide(Verdict.skip)


def _split_error(text: str) -> tuple[str | None, str]:
    kind, colon, message = text.partition(": ")
    if colon and kind.replace(".", "").replace("_", "").isalnum():
        return kind.rsplit(".", 1)[-1], message
    return None, text
