"""The commands of the ``statemachine`` command line, one function each, and what they print."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from statemachine.cli.logs import configure_logging
from statemachine.core.decisions import DecisionResult
from statemachine.core.errors import CorruptRun, InvalidArgument, RunNotFound
from statemachine.core.record import RunRecord
from statemachine.core.refusals import StaleRequest
from statemachine.runtime.workflow import Workflow
from statemachine.store import RetryPolicy, Store, run_state
from statemachine.tools.asked import when
from statemachine.tools.diagram import mermaid
from statemachine.tools.flowchart import flowchart

__all__ = [
    "ENVIRONMENT",
    "EXIT_CODES",
    "Failure",
    "cmd_cancel",
    "cmd_diagram",
    "cmd_requeue",
    "cmd_runs",
    "cmd_sweep",
    "cmd_worker",
    "decide",
    "find_run",
    "opened",
    "output",
    "summary",
    "table",
    "when",
]

ENVIRONMENT = "STATEMACHINE_STORE"

EXIT_REFUSED, EXIT_USAGE, EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head -1`
PAGE_LIMIT = 1000  # the most runs a store lists at once

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "done (a replayed decision is done too: it answers `duplicate`)"),
    (EXIT_REFUSED, "refused (a run that cannot be cancelled or requeued, a bad run id, a run of "
     "another workflow), or an unexpected error (`statemachine: unexpected error: TYPE: MESSAGE`)"),
    (EXIT_USAGE, "usage (an unknown command or option, a bad value, store URL or `--app`, an "
     "ambiguous run id prefix)"),
    (EXIT_CONFLICT, "conflict (the request is no longer pending, the run is busy or moved on)"),
    (EXIT_NOT_FOUND, "not found (no such run, or no such store)"),
    (EXIT_UNAVAILABLE, "the store is unavailable"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C), quietly"),
    (EXIT_BROKEN_PIPE, "the reader of the output went away (as `head` does), quietly, as other "
     "Unix tools do"),
)  # fmt: skip
"""Every exit code of the command, and what it means: `--help` and the docs show this table."""


class Failure(Exception):
    """A command's failure, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def opened(url: str | None) -> Iterator[Store]:
    """The store `url` (or the environment) names, open until the block ends.

    Raises:
        Failure: no store is named, or its URL is malformed (a usage error).
        StoreError: the store cannot be opened.
    """
    from stores import open_store  # the adapters are imported only by the commands that need them

    url = url or os.environ.get(ENVIRONMENT)
    if not url:
        raise Failure(f"no store: pass --store URL or set {ENVIRONMENT}", EXIT_USAGE)
    try:
        store = open_store(url)
    except InvalidArgument as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    except ValueError as exc:  # the URL parser's own (a bad port); the URL may hold a password
        raise Failure(f"invalid store URL: {exc}", EXIT_USAGE) from None
    try:
        yield store
    finally:
        store.close()


def find_run(store: Store, given: str) -> RunRecord:
    """The run whose id is `given`, or the one run whose id starts with it.

    Raises:
        RunNotFound: no run's id is or starts with `given`.
        InvalidRunId: `given` cannot be a run id.
        Failure: `given` starts several runs' ids (a usage error naming a few of them).
    """
    try:
        return store.load(given)
    except RunNotFound:
        found = sorted(run_id for run_id in store.run_ids() if run_id.startswith(given))
        if len(found) == 1:
            return store.load(found[0])
        if not found:
            raise
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    raise Failure(f"{given!r} is ambiguous: the ids of {len(found)} runs start with it: {shown}",
                  EXIT_USAGE)  # fmt: skip


def summary(run: RunRecord) -> dict[str, Any]:
    """What a listing shows of a run, and what every command's JSON starts with."""
    gate = run.pending_gate
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "status": run.status.value,
        "state": run_state(run),
        "step": run.cursor,
        "request_id": gate.request.request_id if gate and gate.request else None,
        "deadline": when(gate.deadline) if gate else None,
        "attempts": run.attempts,
        "version": run.version,
        "created_at": when(run.created_at),
        "updated_at": when(run.updated_at),
    }


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """`rows` as a table of `columns`, aligned, with a heading; a missing value is blank."""
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


def output(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print `data` as JSON with ``--json``, else `text`."""
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else text)


def _unreadable(problems: Iterable[CorruptRun]) -> None:
    """Say which runs a listing left out because they cannot be read: one line each."""
    for problem in problems:
        print(f"statemachine: left out a run that cannot be read: {problem}", file=sys.stderr)


# Commands


def cmd_runs(args: argparse.Namespace) -> int:
    found: list[RunRecord]
    with opened(args.store) as store:
        if args.dead:
            found = store.dead(limit=args.limit, offset=args.offset, oldest_first=args.oldest_first)
            _unreadable(found.unreadable)
        else:
            found = _page(store, args.state, args.limit, args.offset, args.oldest_first)
    rows = [summary(run) for run in found]
    if args.dead:
        columns, empty = ["run_id", "workflow", "step", "attempts", "updated_at"], "dead-lettered "
    else:
        columns, empty = ["run_id", "workflow", "state", "step", "attempts", "updated_at"], ""
    output(args, rows, table(rows, columns) if rows else f"no {empty}runs")
    return 0


def _page(
    store: Store, state: str | None, limit: int, offset: int, oldest_first: bool
) -> list[RunRecord]:
    """A page of the runs in `state` (any, without one), most recently changed first (or
    last)."""
    if state != "paused":
        page = store.page(state, limit=limit, offset=offset, oldest_first=oldest_first)
        _unreadable(page.unreadable)
        return page
    # Two states merged: each is read from its start to the end of the page.
    end = offset + limit
    if end > PAGE_LIMIT:
        raise Failure(f"--state paused lists the first {PAGE_LIMIT} runs only", EXIT_USAGE)
    pages = [
        store.page(each, limit=end, oldest_first=oldest_first)
        for each in ("awaiting_confirmation", "awaiting_review")
    ]
    _unreadable([exc for page in pages for exc in page.unreadable])
    return sorted(
        (run for page in pages for run in page),
        key=lambda run: (run.updated_at, run.run_id),
        reverse=not oldest_first,
    )[offset:end]


def decide(args: argparse.Namespace, *, verdict: str) -> int:
    feedback = getattr(args, "feedback", None)
    try:
        with opened(args.store) as store:
            # Without --request: the pending one, or, for a retry with the same --decision-id,
            # the one that decision answered (it then answers "duplicate").
            result: DecisionResult = store.decide(
                args.run, args.request, verdict, feedback, decision_id=args.decision_id,
                by=args.by, groups=args.groups, via="cli",
            )  # fmt: skip
    except StaleRequest as exc:
        if args.request is None and exc.pending_request_id is None:
            raise Failure(
                f"run {args.run!r} is not waiting for a decision", EXIT_CONFLICT
            ) from None
        raise
    data = {"outcome": result.outcome.value, **summary(result.run)}
    text = f"{result.outcome.value}: run {args.run} is {run_state(result.run)}"
    output(args, data, text)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with opened(args.store) as store:
        run = store.cancel(args.run)
    output(args, summary(run), f"run {args.run} is {run.status.value}")
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    with opened(args.store) as store:
        run = store.requeue(args.run)
    output(args, summary(run), f"run {args.run} is {run.status.value} again")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    with opened(args.store) as store:
        fired = store.expire_due()
        reaped = store.reap(RetryPolicy())
    output(args, {"timeouts": fired, "reaped": reaped},
           f"{len(fired)} timeouts applied, {len(reaped)} expired leases reaped")  # fmt: skip
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    if args.app is None:
        if args.run is not None:
            raise Failure("a run's diagram is its workflow's: pass --app too", EXIT_USAGE)
        text = mermaid()
    else:
        text = flowchart(*_drawn(_load_app(args.app), args.app, args.run))
    output(args, {"mermaid": text}, text.rstrip())
    return 0


def _drawn(
    workflows: list[Workflow], spec: str, run_id: str | None
) -> tuple[Workflow, RunRecord | None]:
    """The workflow to draw, and the run `run_id` names (read through the workflow's store).

    Raises:
        Failure: several workflows and no run to choose one by (a usage error).
        RunNotFound: none of the workflows' stores has the run.
        InvalidArgument: the run belongs to none of the workflows.
    """
    names = ", ".join(workflow.name for workflow in workflows)
    if run_id is None:
        if len(workflows) > 1:
            raise Failure(f"{spec!r} holds several workflows ({names}): name one", EXIT_USAGE)
        return workflows[0], None
    stores = list({id(workflow.store): workflow.store for workflow in workflows}.values())
    run = _found(stores, run_id)
    for workflow in workflows:
        if workflow.name == run.workflow:
            return workflow, run
    raise InvalidArgument(f"run {run.run_id!r} belongs to workflow {run.workflow!r}, not {names}")


def _found(stores: Sequence[Store], run_id: str) -> RunRecord:
    """The run `run_id` names, in the first of `stores` that has it."""
    for store in stores[:-1]:
        try:
            return find_run(store, run_id)
        except RunNotFound:
            continue
    return find_run(stores[-1], run_id)


def _load_app(spec: str) -> list[Workflow]:
    """The workflows ``module:attribute`` names, the module imported from the working directory.

    Raises:
        Failure: a usage error: `spec` is malformed, the module fails to import, or the
            attribute is missing or not a Workflow or a list of them.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise Failure(f"--app must be module:attribute, not {spec!r}", EXIT_USAGE)
    if os.getcwd() not in sys.path:
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
    configure_logging(args.log_level, args.log_format)
    with opened(args.store) as store:
        workflows = _load_app(args.app)
        keep = None if args.keep_finished_days is None else args.keep_finished_days * 86400
        if args.asyncio:
            return _async_worker(workflows, store, args.concurrency or 100, keep)
        return _worker(workflows, store, args.concurrency or 1, keep)


def _worker(workflows: list[Workflow], store: Store, concurrency: int, keep: float | None) -> int:
    from statemachine.runtime.worker import Worker

    worker = Worker(workflows, store, concurrency=concurrency, keep_finished=keep)
    stop = threading.Event()

    def finish(signum: int, frame: object) -> None:
        stop.set()  # finish the units under way, release, exit: no attempt is counted

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    # Ready: said once the handlers are in place, so that SIGTERM may follow it at once.
    print(f"worker: {concurrency} thread(s) on {store!r}", file=sys.stderr, flush=True)
    worker.run(stop)
    print(f"worker: stopped after {dict(worker.counts)}", file=sys.stderr, flush=True)
    return 0


def _async_worker(
    workflows: list[Workflow], store: Store, concurrency: int, keep: float | None
) -> int:
    import asyncio

    from statemachine.runtime.aworker import AsyncWorker

    worker = AsyncWorker(workflows, store, concurrency=concurrency, keep_finished=keep)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for each in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(each, stop.set)  # finish the units under way, then exit
        print(f"worker: up to {concurrency} unit(s) at once on one event loop, on "
              f"{store!r}", file=sys.stderr, flush=True)  # fmt: skip
        try:
            await worker.run(stop)
        finally:
            await store.aclose()

    asyncio.run(main())
    print(f"worker: stopped after {dict(worker.counts)}", file=sys.stderr, flush=True)
    return 0
