"""The outbox: notifications a run owes about its pauses, kept in the run until delivered.

A notice is added in the same compare-and-set write as the pause it is about, so a pause is
never stored without its notifications nor a notification sent about a pause that was not
stored; whoever continues the run, or a worker's sweep, delivers it after the commit and
records the outcome in a write of its own. A delivery that fails is tried again after a
backoff, up to `MAX_ATTEMPTS`; a dead endpoint never holds up the run, which goes on (or
waits for its decision) whatever becomes of its notices.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

__all__ = ["BACKOFF", "MAX_ATTEMPTS", "MAX_NOTICES", "Notice"]

BACKOFF = (10.0, 60.0, 300.0, 1800.0)
"""Seconds before the next attempt after each failed one (the last repeats)."""
MAX_ATTEMPTS = 8
"""Attempts at a notice before it is given up (its last error is kept)."""
MAX_NOTICES = 50
"""Notices a run keeps: the oldest settled ones make way for new ones."""


@attrs.frozen
class Notice:
    """A notification to send, or sent, about a request of the run.

    Attributes:
        hook: the name of the hook that sends it; ``""`` for an escalation's own record, which
            no hook sends (the sweep writes it in the history when it comes due).
        request_id: the request it is about.
        event: ``paused``, ``reminder`` or ``escalated``.
        due: when to try next; None once it is settled (delivered, or given up).
        attempts: deliveries tried so far.
        delivered_at: when a delivery succeeded.
        error: the last failure, in words.
    """

    hook: str
    request_id: str
    event: str = "paused"
    due: datetime | None = None
    attempts: int = 0
    delivered_at: datetime | None = None
    error: str | None = None

    def key(self, run_id: str) -> str:
        """The notice's idempotency key: one per run, request, hook and event."""
        return f"{run_id}:{self.request_id}:{self.hook}:{self.event}"

    def is_due(self, now: datetime) -> bool:
        return self.due is not None and self.due <= now

    def delivered(self, now: datetime) -> Notice:
        return attrs.evolve(self, due=None, attempts=self.attempts + 1, delivered_at=now,
                            error=None)  # fmt: skip

    def failed(self, error: str, now: datetime, *, final: bool = False) -> Notice:
        """Failed once more: due again after the backoff, or given up (after `MAX_ATTEMPTS`,
        or at once when `final`)."""
        attempts = self.attempts + 1
        wait = BACKOFF[min(attempts, len(BACKOFF)) - 1]
        due = None if final or attempts >= MAX_ATTEMPTS else now + timedelta(seconds=wait)
        return attrs.evolve(self, due=due, attempts=attempts, error=error[:500])

    @property
    def status(self) -> str:
        """``delivered``, ``pending`` (not tried yet, or to be tried again) or ``failed``."""
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.due is not None else "failed"
