"""``statemachine serve``: the inbox and its API over a store (the ``web`` extra)."""

from __future__ import annotations

import argparse
import signal

from statemachine.cli.commands import EXIT_USAGE, Failure, _load_app, opened
from statemachine.core.errors import InvalidArgument

__all__ = ["cmd_serve"]


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from statemachine.web import server
        from statemachine.web.auth import from_environment
    except ImportError as exc:  # the web extra is not installed
        raise Failure(
            f"serve needs the web extra ({exc.name} is missing): "
            "pip install 'hitl-statemachine[web]'",
            EXIT_USAGE,
        ) from None
    try:
        users = from_environment()
        sock = server.bind(args.host, args.port, users)
    except InvalidArgument as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    try:
        workflows = [workflow for spec in args.app or () for workflow in _load_app(spec)]
        with opened(args.store) as store:
            # uvicorn stops on SIGTERM, then raises it again: stopping is what was asked.
            signal.signal(signal.SIGTERM, lambda signum, frame: None)
            server.serve(store, workflows, sock, users, ready=_ready)
    finally:
        sock.close()
    return 0


def _ready(address: str) -> None:
    print(f"inbox: {address} (Ctrl-C to stop)", flush=True)
