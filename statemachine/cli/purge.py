"""``statemachine purge``: remove finished runs for good (`Store.purge`)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from statemachine.cli.commands import EXIT_USAGE, Failure, opened, output

__all__ = ["cmd_purge", "moment"]


def moment(text: str) -> datetime:
    """An ISO 8601 date or time (UTC when it names no offset), for argparse."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time (2026-11-01, 2026-11-01T12:00+00:00)"
        ) from None
    return when if when.utcoffset() is not None else when.replace(tzinfo=UTC)


def cmd_purge(args: argparse.Namespace) -> int:
    if args.finished_before is None:
        raise Failure("say which runs: --finished-before DATE", EXIT_USAGE)
    with opened(args.store) as store:
        removed = store.purge(
            args.finished_before, workflow=args.workflow, dry_run=args.dry_run, limit=args.limit
        )
    verb = "would remove" if args.dry_run else "removed"
    data = {"dry_run": args.dry_run, "run_ids": removed}
    output(args, data, f"{verb} {len(removed)} finished run(s)" + "".join(
        f"\n  {run_id}" for run_id in removed[:50]
    ))  # fmt: skip
    return 0
