"""The command line for operating runs and workers: ``statemachine COMMAND --store URL``.

Every command that reads or changes runs takes ``--store URL`` (or the ``STATEMACHINE_STORE``
environment variable), and every command takes ``--json`` for scripts. Errors are one line on
stderr, never a traceback, with exit codes that mean something (`commands.EXIT_CODES`, shown
by ``statemachine --help`` and on the docs site). In JSON, a time that is absent (a run with no
deadline) is ``null``; tables leave it blank.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NoReturn

from statemachine.cli.commands import (
    ENVIRONMENT,
    EXIT_BROKEN_PIPE,
    EXIT_CODES,
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
    cmd_sweep,
    cmd_worker,
    decide,
)
from statemachine.cli.doctor import cmd_doctor
from statemachine.cli.logs import add_log_options
from statemachine.cli.purge import cmd_purge, moment
from statemachine.cli.serve import cmd_link, cmd_serve
from statemachine.cli.show import cmd_show
from statemachine.cli.verify import cmd_verify
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
from statemachine.tools.version import installed_version

__all__ = ["main", "parser"]

# Parsing


class _Done(Exception):
    """``--help`` or ``--version`` printed what was asked: the command ends with `code`."""

    def __init__(self, code: int) -> None:
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, as for every other error; the usage is one --help away.
        raise Failure(f"{message} (see {self.prog} --help)", EXIT_USAGE)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        # Reached after --help or --version only (errors end in `error`): main returns the
        # code, rather than the process exiting under the caller's feet.
        raise _Done(status)


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"{parser.prog} {installed_version()}")
        parser.exit()


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


_RUN = "the run's id"
_EXITS = "exit codes:\n" + "\n".join(
    textwrap.fill(meaning, 79, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
    for code, meaning in EXIT_CODES
)


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``statemachine`` command."""
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    stored = _Parser(add_help=False, parents=[common])
    stored.add_argument("--store", help=f"the store's URL (default: ${ENVIRONMENT})")
    top = _Parser(
        prog="statemachine",
        description="Operate human-in-the-loop runs and workers.",
        epilog=_EXITS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(
        name: str, run: Callable[[argparse.Namespace], int], help: str, store: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=[stored if store else common], help=help, description=help
        )
        sub.set_defaults(handler=run)
        return sub

    runs = command("runs", cmd_runs, "list runs, most recently changed first")
    runs.add_argument("--state", choices=[*STATES, "paused"], help="only runs in this state")
    runs.add_argument(
        "--dead", action="store_true", help="only dead-lettered runs (failed, no retry left)"
    )
    runs.add_argument(
        "--limit", type=_integer(1, PAGE_LIMIT), default=20,
        help=f"list at most this many runs (default 20, at most {PAGE_LIMIT})",
    )  # fmt: skip
    runs.add_argument(
        "--offset", type=_integer(0), default=0, help="skip this many runs first (default 0)"
    )
    runs.add_argument("--oldest-first", action="store_true", help="least recently changed first")
    show = command("show", cmd_show, "one run: its state, pending request, decisions and history")
    show.add_argument("run", help=f"{_RUN}, or a prefix that only it starts with")
    for verdict in ("confirm", "reject"):
        deciding = command(
            verdict, partial(decide, verdict=verdict), f"{verdict} the pending request"
        )
        deciding.add_argument("run", help=_RUN)
        deciding.add_argument("--request", help="the request id (default: the pending one)")
        deciding.add_argument("--decision-id", help="makes retries of this command idempotent")
        deciding.add_argument(
            "--by",
            default=os.environ.get("STATEMACHINE_ACTOR") or _login(),
            help="who decides, recorded with the decision and checked against the request's "
            "assignees (default: $STATEMACHINE_ACTOR, else your login name)",
        )
        deciding.add_argument(
            "--group", action="append", default=[], dest="groups",
            help="a group you are in, for a request's candidate groups (repeat for several)",
        )  # fmt: skip
        if verdict == "reject":
            deciding.add_argument("--feedback", help="for the next iteration")
    command("cancel", cmd_cancel, "cancel a run").add_argument("run", help=_RUN)
    command(
        "requeue", cmd_requeue, "make a failed or dead-lettered run runnable again"
    ).add_argument("run", help=_RUN)
    command("sweep", cmd_sweep, "apply due timeouts and reap expired leases, once")
    diagram = command(
        "diagram", cmd_diagram,
        "print the gate machine, or a workflow and where one of its runs stands, in Mermaid",
        store=False,
    )  # fmt: skip
    diagram.add_argument(
        "--app", help="module:attribute holding the workflow to draw (default: the gate machine)"
    )
    diagram.add_argument(
        "run", nargs="?",
        help=f"with --app: {_RUN} (or a unique prefix), read through the workflow's store",
    )  # fmt: skip
    verify = command(
        "verify", cmd_verify,
        "check stored runs' histories against their workflow's definition",
        store=False,
    )  # fmt: skip
    verify.add_argument("--app", required=True, help="module:attribute holding the workflow(s)")
    verify.add_argument("run", nargs="?", help=f"{_RUN} (or a unique prefix) to check")
    verify.add_argument("--all", action="store_true", help="check every run of the workflows")
    doctor = command("doctor", cmd_doctor, "repair a store: rebuild a file store's indexes")
    doctor.add_argument(
        "--reindex", action="store_true", help="make the indexes agree with the stored runs"
    )
    doctor.add_argument(
        "--migrate", action="store_true", help="also rewrite runs stored in an older layout"
    )
    purge = command("purge", cmd_purge, "remove finished runs for good, leaving tombstones")
    purge.add_argument(
        "--finished-before", type=moment, metavar="DATE",
        help="runs that ended before this ISO 8601 date or time (UTC unless it says)",
    )  # fmt: skip
    purge.add_argument("--workflow", help="only this workflow's runs")
    purge.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    purge.add_argument(
        "--limit", type=_integer(1, 1_000_000), default=10_000,
        help="remove at most this many, oldest first (default 10,000)",
    )  # fmt: skip
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
    worker.add_argument(
        "--keep-finished-days", type=float, default=None, metavar="DAYS",
        help="remove runs this many days after they end (their time to live; default: keep)",
    )  # fmt: skip
    add_log_options(worker)
    serve = command("serve", cmd_serve, "serve the inbox and its HTTP API (the web extra)")
    serve.add_argument(
        "--app", action="append",
        help="module:attribute holding workflow(s) whose steps to name (repeatable)",
    )  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    add_log_options(serve)
    serve.add_argument(
        "--port", type=_integer(0, 65535), default=8000, help="port (default 8000; 0: any free)"
    )
    link = command("link", cmd_link, "print a decision link for the run's pending request")
    link.add_argument("run", help=f"{_RUN}, or a prefix that only it starts with")
    link.add_argument(
        "--decision", action="append", choices=["confirm", "reject"],
        help="a decision the link allows (repeatable; default: both)",
    )  # fmt: skip
    link.add_argument("--to", default="link", help="who it is for: recorded as the decider")
    link.add_argument(
        "--hours", type=_integer(1, 8784), default=72, help="how long it lives (default 72)"
    )
    link.add_argument("--url", help="the inbox's address (default: $STATEMACHINE_URL, or local)")
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


def _login() -> str | None:
    """The login name of whoever runs the command, if the system knows it."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor the password database
        return None


def _say(message: str) -> None:
    """Print ``statemachine: MESSAGE`` on stderr as one line, whatever the message holds."""
    print(f"statemachine: {' '.join(message.split())}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command.

    Args:
        argv: the arguments after the command's name (default: the process's).

    Returns:
        The exit code, as `EXIT_CODES` says; errors are one line, never a traceback.
    """
    try:
        try:
            args = parser().parse_args(argv)
        except _Done as done:
            code = done.code
        else:
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
