"""`verify`: check stored runs' histories against their workflow's definition
(`statemachine.testing.check_history`), one run or all of them, as an operator's check before
resuming runs under a changed definition."""

from __future__ import annotations

import argparse
from typing import Any

from statemachine.cli.commands import (
    EXIT_REFUSED,
    EXIT_USAGE,
    Failure,
    _drawn,
    _load_app,
    _unreadable,
    output,
)
from statemachine.core.errors import HistoryInvalid
from statemachine.testing.history import check_history

__all__ = ["cmd_verify"]


def cmd_verify(args: argparse.Namespace) -> int:
    workflows = _load_app(args.app)
    if (args.run is None) == (not args.all):
        raise Failure("name a run, or pass --all", EXIT_USAGE)
    invalid: list[HistoryInvalid] = []
    checked = 0
    if args.run is not None:
        workflow, run = _drawn(workflows, args.app, args.run)
        assert run is not None
        pairs: list[tuple[Any, Any]] = [(workflow, run)]
    else:
        pairs = []
        for workflow in workflows:
            listed = workflow.store.list_runs(workflow.name)
            _unreadable(listed.unreadable)
            pairs += [(workflow, run) for run in listed]
    for workflow, run in pairs:
        checked += 1
        try:
            check_history(run, workflow)
        except HistoryInvalid as exc:
            invalid.append(exc)
    lines = [str(exc) for exc in invalid]
    lines.append(f"{checked} run{'s' * (checked != 1)} checked, {len(invalid)} invalid")
    data = {
        "checked": checked,
        "invalid": [
            {"run_id": e.run_id, "version": e.version, "reason": e.reason} for e in invalid
        ],
    }
    output(args, data, "\n".join(lines))
    return EXIT_REFUSED if invalid else 0
