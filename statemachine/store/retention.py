"""Retention: finished runs removed for good (`Store.purge`), each leaving a tombstone.

Only runs that ended are ever removed: completed, cancelled, and failed with no retry to
come (dead-lettered). A run paused, running, pending or waiting to be retried is never
touched. Each removal is a compare-and-delete on the version the listing read, so a run that
changed meanwhile (requeued, say) is left alone, and the tombstone keeps a late write of a
slow process from bringing it back.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from datetime import datetime
from typing import Any

from statemachine.core.errors import ConflictError, RunBusy, RunNotFound
from statemachine.core.record import RunRecord
from statemachine.store.plans import Delete, Plan
from statemachine.store.values import RunList

__all__ = ["FINISHED", "PAGE", "plan_purge"]

FINISHED = ("completed", "cancelled")
"""The listing states whose runs have ended (and the dead letters, listed apart)."""
PAGE = 500
"""Runs a purge reads per page of a listing."""

Lister = Callable[[int], Generator[Any, Any, RunList]]
"""A listing of ended runs, oldest first, from an offset."""


def plan_purge(
    listings: Sequence[Lister], before: datetime, workflow: str | None, dry_run: bool, limit: int
) -> Plan[list[str]]:
    """Remove up to `limit` runs that ended before `before` (of `workflow`, if given), oldest
    first; the ids removed (with `dry_run`: those that would be). Each listing is read oldest
    first, and only until it passes `before` or has given `limit` runs: the cost follows what
    is removed, not what is kept."""
    found: list[RunRecord] = []
    for listing in listings:
        found += yield from _ended(listing, before, workflow, limit)
    found.sort(key=lambda run: run.updated_at)
    chosen = found[:limit]
    if dry_run:
        return [run.run_id for run in chosen]
    removed = []
    for run in chosen:
        try:
            yield Delete(run.run_id, run.version)
        except (ConflictError, RunNotFound, RunBusy):
            continue  # it changed, went, or is being executed: left for another purge
        removed.append(run.run_id)
    return removed


def _ended(
    listing: Lister, before: datetime, workflow: str | None, limit: int
) -> Plan[list[RunRecord]]:
    """The first `limit` runs of `listing` (of `workflow`) that ended before `before`."""
    found: list[RunRecord] = []
    offset = 0
    while True:
        page = yield from listing(offset)
        for run in page:
            if run.updated_at >= before or len(found) == limit:
                return found
            if workflow is None or run.workflow == workflow:
                found.append(run)
        if len(page) + len(page.unreadable) < PAGE:
            return found
        offset += PAGE
