"""The commands of the ``statemachine`` command line, one function each, and what they print."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from statemachine.core.actions import RequestReview
from statemachine.core.codec import converter
from statemachine.core.decisions import DecisionResult
from statemachine.core.errors import CorruptRun, InvalidArgument
from statemachine.core.machine import action_of
from statemachine.core.record import RunRecord
from statemachine.core.refusals import StaleRequest
from statemachine.runtime.workflow import Workflow
from statemachine.store import RetryPolicy, Store, run_state
from statemachine.tools.diagram import mermaid

__all__ = [
    "ENVIRONMENT",
    "Failure",
    "cmd_cancel",
    "cmd_diagram",
    "cmd_requeue",
    "cmd_runs",
    "cmd_show",
    "cmd_sweep",
    "cmd_worker",
    "decide",
]

ENVIRONMENT = "STATEMACHINE_STORE"

EXIT_REFUSED, EXIT_USAGE, EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head -1`
PAGE_LIMIT = 1000  # the most runs a store lists at once


class Failure(Exception):
    """A command's failure, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _store(url: str | None) -> Store:
    """The store `url` (or the environment) names.

    Raises:
        Failure: no store is named, or its URL is malformed (a usage error).
        StoreError: the store cannot be opened.
    """
    from stores import open_store  # the adapters are imported only by the commands that need them

    url = url or os.environ.get(ENVIRONMENT)
    if not url:
        raise Failure(f"no store: pass --store URL or set {ENVIRONMENT}", EXIT_USAGE)
    try:
        return open_store(url)
    except InvalidArgument as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    except ValueError as exc:  # the URL parser's own (a bad port); the URL may hold a password
        raise Failure(f"invalid store URL: {exc}", EXIT_USAGE) from None


def _when(moment: datetime | None) -> str | None:
    """An ISO 8601 time to the second, or None (null in JSON, blank in a table) if absent."""
    return None if moment is None else moment.isoformat(timespec="seconds")


def _summary(run: RunRecord) -> dict[str, Any]:
    gate = run.pending_gate
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "status": run.status.value,
        "state": run_state(run),
        "step": run.cursor,
        "request_id": gate.request.request_id if gate and gate.request else None,
        "deadline": _when(gate.deadline) if gate else None,
        "attempts": run.attempts,
        "version": run.version,
        "created_at": _when(run.created_at),
        "updated_at": _when(run.updated_at),
    }


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [
        [str(row.get(column) if row.get(column) is not None else "") for column in columns]
        for row in rows
    ]
    widths = [
        max([len(column), *(len(line[n]) for line in cells)]) for n, column in enumerate(columns)
    ]
    lines = [
        "  ".join(
            column.upper().ljust(width) for column, width in zip(columns, widths, strict=True)
        )
    ]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else text)


def _unreadable(problems: Iterable[CorruptRun]) -> None:
    """Say which runs a listing left out because they cannot be read: one line each."""
    for problem in problems:
        print(f"statemachine: left out a run that cannot be read: {problem}", file=sys.stderr)


# Commands


def cmd_runs(args: argparse.Namespace) -> int:
    store = _store(args.store)
    if args.dead:
        dead = store.dead(limit=args.limit, offset=args.offset)
        _unreadable(dead.unreadable)
        rows = [_summary(run) for run in dead]
        columns = ["run_id", "workflow", "step", "attempts", "updated_at"]
        _print(args, rows, _table(rows, columns) if rows else "no dead-lettered runs")
        return 0
    found: list[RunRecord]
    if args.state != "paused":
        found = page = store.page(args.state, limit=args.limit, offset=args.offset)
        _unreadable(page.unreadable)
    else:  # two states merged: each is read from its start to the end of the page
        end = args.offset + args.limit
        if end > PAGE_LIMIT:
            raise Failure(f"--state paused lists the first {PAGE_LIMIT} runs only", EXIT_USAGE)
        pages = [
            store.page(state, limit=end) for state in ("awaiting_confirmation", "awaiting_review")
        ]
        _unreadable([exc for page in pages for exc in page.unreadable])
        found = sorted(
            (run for page in pages for run in page),
            key=lambda run: (run.updated_at, run.run_id),
            reverse=True,
        )[args.offset : end]
    rows = [_summary(run) for run in found]
    columns = ["run_id", "workflow", "state", "step", "attempts", "updated_at"]
    _print(args, rows, _table(rows, columns) if rows else "no runs")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    run = _store(args.store).load(args.run)
    data = {**_summary(run), "record": converter().unstructure(run)}
    lines = [f"{key}: {value}" for key, value in _summary(run).items() if value not in (None, "")]
    if run.error:
        lines.append(f"error: {run.error}")
    gate = run.pending_gate
    if gate is not None and gate.request is not None:
        lines.append(
            f"pending: {gate.request.kind.value} of {gate.name!r} (iteration {gate.iteration}): "
            f"{gate.request.message or ''}"
        )
        action = action_of(gate)
        if isinstance(action, RequestReview):
            lines.append(f"under review: {json.dumps(action.output, ensure_ascii=False)}")
    for each in run.gates:
        progress = f"iteration {each.iteration}/{each.max_iterations}"
        lines.append(f"gate {each.name}: {each.state.value}, {progress}")
    history = [
        {"v": e.version, "at": _when(e.at), "name": e.name, "event": e.event, "state": e.state,
         "decision": e.decision_id}
        for e in run.history
    ]  # fmt: skip
    lines += ["", _table(history, ["v", "at", "name", "event", "state", "decision"])]
    _print(args, data, "\n".join(lines))
    return 0


def decide(args: argparse.Namespace, *, verdict: str) -> int:
    store = _store(args.store)
    feedback = getattr(args, "feedback", None)
    try:
        # Without --request: the pending one, or, for a retry with the same --decision-id,
        # the one that decision answered (it then answers "duplicate").
        result: DecisionResult = store.decide(
            args.run, args.request, verdict, feedback, decision_id=args.decision_id
        )
    except StaleRequest as exc:
        if args.request is None and exc.pending_request_id is None:
            raise Failure(
                f"run {args.run!r} is not waiting for a decision", EXIT_CONFLICT
            ) from None
        raise
    data = {"outcome": result.outcome.value, **_summary(result.run)}
    text = f"{result.outcome.value}: run {args.run} is {run_state(result.run)}"
    _print(args, data, text)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    run = _store(args.store).cancel(args.run)
    _print(args, _summary(run), f"run {args.run} is {run.status.value}")
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    run = _store(args.store).requeue(args.run)
    _print(args, _summary(run), f"run {args.run} is {run.status.value} again")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    store = _store(args.store)
    fired = store.expire_due()
    reaped = store.reap(RetryPolicy())
    _print(args, {"timeouts": fired, "reaped": reaped},
           f"{len(fired)} timeouts applied, {len(reaped)} expired leases reaped")  # fmt: skip
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    text = mermaid()
    _print(args, {"mermaid": text}, text.rstrip())
    return 0


def _load_app(spec: str) -> list[Workflow]:
    """The workflows ``module:attribute`` names, the module imported from the working directory.

    Raises:
        Failure: a usage error: `spec` is malformed, the module fails to import, or the
            attribute is missing or not a Workflow or a list of them.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise Failure(f"--app must be module:attribute, not {spec!r}", EXIT_USAGE)
    sys.path.insert(0, os.getcwd())
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise Failure(f"cannot load {spec!r}: {exc}", EXIT_USAGE) from None
    except Exception as exc:  # the application's own code failed while it was imported
        failed = f"importing {module_name} raised {type(exc).__name__}: {exc}"
        raise Failure(f"cannot load {spec!r}: {failed}", EXIT_USAGE) from None
    workflows = list(found) if isinstance(found, (list, tuple)) else [found]
    if not workflows or not all(isinstance(workflow, Workflow) for workflow in workflows):
        raise Failure(f"{spec!r} is not a Workflow or a list of them", EXIT_USAGE)
    return workflows


def cmd_worker(args: argparse.Namespace) -> int:
    if args.asyncio:
        args.concurrency = args.concurrency or 100
        return _async_worker(args)
    args.concurrency = args.concurrency or 1
    from statemachine.runtime.worker import Worker

    store = _store(args.store)
    worker = Worker(_load_app(args.app), store, concurrency=args.concurrency)
    stop = threading.Event()

    def finish(signum: int, frame: object) -> None:
        stop.set()  # finish the units under way, release, exit: no attempt is counted

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    # Ready: said once the handlers are in place, so that SIGTERM may follow it at once.
    print(f"worker: {args.concurrency} thread(s) on {store!r}", file=sys.stderr, flush=True)
    worker.run(stop)
    print(f"worker: stopped after {dict(worker.counts)}", file=sys.stderr, flush=True)
    return 0


def _async_worker(args: argparse.Namespace) -> int:
    import asyncio

    from statemachine.runtime.aworker import AsyncWorker

    store = _store(args.store)
    worker = AsyncWorker(_load_app(args.app), store, concurrency=args.concurrency)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for each in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(each, stop.set)  # finish the units under way, then exit
        print(f"worker: up to {args.concurrency} unit(s) at once on one event loop, on "
              f"{store!r}", file=sys.stderr, flush=True)  # fmt: skip
        try:
            await worker.run(stop)
        finally:
            await store.aclose()

    asyncio.run(main())
    print(f"worker: stopped after {dict(worker.counts)}", file=sys.stderr, flush=True)
    return 0
