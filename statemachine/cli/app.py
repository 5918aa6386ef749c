"""The command line for operating runs and workers: ``statemachine COMMAND --store URL``.

Every command takes ``--store URL`` (or the ``STATEMACHINE_STORE`` environment variable) and
``--json`` for scripts. Errors are one line on stderr, never a traceback, with exit codes that
mean something:

====  =========================================================
0     done (a replayed decision is done too: it answers "duplicate")
1     refused (a run that cannot be cancelled or requeued, a bad run id), or an unexpected
      error (``statemachine: unexpected error: TYPE: MESSAGE``)
2     usage (unknown command or option, a bad value, store URL or ``--app``)
3     conflict (the request is no longer pending, the run is busy or moved on)
4     not found (no such run)
5     the store is unavailable
130   interrupted (Ctrl-C), quietly
141   the reader of the output went away (``| head``), quietly, as other Unix tools do
====  =========================================================

In JSON, a time that is absent (a run with no deadline) is ``null``; tables leave it blank.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import NoReturn

from statemachine.core.errors import (
    ConflictError,
    InvalidArgument,
    RunNotFound,
    StateMachineError,
    StoreNotFound,
    StoreUnavailable,
)
from statemachine.core.refusals import DecisionRefused
from statemachine.store import STATES

__all__ = ["main"]

from statemachine.cli.commands import (
    ENVIRONMENT,
    EXIT_BROKEN_PIPE,
    EXIT_CONFLICT,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PAGE_LIMIT,
    Failure,
    cmd_cancel,
    cmd_diagram,
    cmd_requeue,
    cmd_runs,
    cmd_show,
    cmd_sweep,
    cmd_worker,
    decide,
)

# Parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, as for every other error; the usage is one --help away.
        raise Failure(f"{message} (see {self.prog} --help)", EXIT_USAGE)


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high` (anything else is a usage error)."""
    wanted = f"of at least {low}" if high is None else f"from {low} to {high}"

    def convert(text: str) -> int:
        try:
            value = int(text)
            fits = value >= low and (high is None or value <= high)
        except ValueError:
            fits = False
        if not fits:
            raise argparse.ArgumentTypeError(f"must be an integer {wanted}, not {text!r}")
        return value

    return convert


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``statemachine`` command."""
    common = _Parser(add_help=False)
    common.add_argument("--store", help=f"store URL (default: ${ENVIRONMENT})")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    top = _Parser(prog="statemachine", description="Operate human-in-the-loop runs and workers.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(
        name: str, run: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(handler=run)
        return sub

    runs = command("runs", cmd_runs, "list runs, most recently changed first")
    runs.add_argument("--state", choices=[*STATES, "paused"], help="only runs in this state")
    runs.add_argument(
        "--dead", action="store_true", help="only dead-lettered runs (failed, no retry left)"
    )
    runs.add_argument("--limit", type=_integer(1, PAGE_LIMIT), default=20)
    runs.add_argument("--offset", type=_integer(0), default=0)
    command("show", cmd_show, "one run: its state, pending request and history").add_argument("run")
    for verdict in ("confirm", "reject"):
        deciding = command(
            verdict, partial(decide, verdict=verdict), f"{verdict} the pending request"
        )
        deciding.add_argument("run")
        deciding.add_argument("--request", help="the request id (default: the pending one)")
        deciding.add_argument("--decision-id", help="makes retries of this command idempotent")
        if verdict == "reject":
            deciding.add_argument("--feedback", help="for the next iteration")
    command("cancel", cmd_cancel, "cancel a run").add_argument("run")
    command(
        "requeue", cmd_requeue, "make a failed or dead-lettered run runnable again"
    ).add_argument("run")
    command("sweep", cmd_sweep, "apply due timeouts and reap expired leases, once")
    command("diagram", cmd_diagram, "print the gate machine as a Mermaid diagram")
    worker = command("worker", cmd_worker, "execute runs until SIGTERM")
    worker.add_argument("--app", required=True, help="module:attribute holding the workflow(s)")
    worker.add_argument(
        "--concurrency",
        type=_integer(1),
        default=None,
        help="threads (default 1), or with --async units at once (default 100)",
    )
    worker.add_argument(
        "--async",
        dest="asyncio",
        action="store_true",
        help="run units as tasks of one event loop: for user code that mostly awaits",
    )
    return top


_CODES: list[tuple[type[Exception], int]] = [
    (RunNotFound, EXIT_NOT_FOUND),
    (StoreNotFound, EXIT_NOT_FOUND),
    (StoreUnavailable, EXIT_UNAVAILABLE),
    (ConflictError, EXIT_CONFLICT),
    (DecisionRefused, EXIT_CONFLICT),  # the request is no longer pending, or came too late
    (InvalidArgument, EXIT_REFUSED),
    (StateMachineError, EXIT_REFUSED),
]


def _say(message: str) -> None:
    """Print ``statemachine: MESSAGE`` on stderr as one line, whatever the message holds."""
    print(f"statemachine: {' '.join(message.split())}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command.

    Args:
        argv: the arguments after the command's name (default: the process's).

    Returns:
        The exit code, as the module's table says; errors are one line, never a traceback.
    """
    try:
        args = parser().parse_args(argv)
        code = int(args.handler(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at exit
        return code
    except BrokenPipeError:
        # Python's documented recipe: stdout goes to /dev/null, so that the interpreter's
        # final flush of what is still buffered cannot fail again, with a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Failure as failure:
        _say(str(failure))
        return failure.code
    except StateMachineError as exc:
        _say(str(exc))
        return next(code for kind, code in _CODES if isinstance(exc, kind))
    except Exception as exc:  # a bug, or the system failing (OSError): still one line
        _say(f"unexpected error: {type(exc).__name__}" + (f": {exc}" if str(exc) else ""))
        return EXIT_REFUSED
