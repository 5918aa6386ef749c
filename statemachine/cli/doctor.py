"""`doctor --reindex`: rebuild a file store's indexes from its snapshots (and, with
``--migrate``, rewrite snapshots of an older layout in the current one). Stores whose indexes
are written with their runs, in one transaction (SQLite) or one script (Redis), have nothing
to rebuild."""

from __future__ import annotations

import argparse

from statemachine.cli.commands import EXIT_USAGE, Failure, opened, output

__all__ = ["cmd_doctor"]


def cmd_doctor(args: argparse.Namespace) -> int:
    from stores import FileStore

    if not args.reindex:
        raise Failure("say what to do: --reindex", EXIT_USAGE)
    with opened(args.store) as store:
        if not isinstance(store, FileStore):
            output(args, {"reindexed": False},
                   f"nothing to reindex: {type(store).__name__} writes its indexes with its "
                   "runs, in one transaction")  # fmt: skip
            return 0
        done = store.reindex(migrate=args.migrate)
    data = {"reindexed": True, **done._asdict()}
    text = (
        f"{done.runs} runs checked: {done.added} index entries added, {done.removed} removed, "
        f"{done.migrated} snapshots migrated, {done.unreadable} unreadable"
    )
    output(args, data, text)
    return 0
