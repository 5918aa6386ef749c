"""``statemachine serve``: the inbox and its API over a store (the ``web`` extra)."""

from __future__ import annotations

import argparse
import os
import signal

from statemachine.cli.commands import EXIT_USAGE, Failure, _load_app, find_run, opened, output
from statemachine.cli.logs import configure_logging
from statemachine.core.errors import InvalidArgument

__all__ = ["cmd_link", "cmd_serve"]

URL_ENVIRONMENT = "STATEMACHINE_URL"


def _web_extra(command: str) -> None:
    """Fail with a usage error naming the extra when it is not installed."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise Failure(
            f"{command} needs the web extra ({exc.name} is missing): "
            "pip install 'hitl-statemachine[web]'",
            EXIT_USAGE,
        ) from None


def cmd_serve(args: argparse.Namespace) -> int:
    _web_extra("serve")
    configure_logging(args.log_level, args.log_format)
    from statemachine.web import server
    from statemachine.web.app import prometheus_metrics
    from statemachine.web.auth import from_environment

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
            metrics = prometheus_metrics(store)
            server.serve(store, workflows, sock, users, ready=_ready, metrics=metrics)
    finally:
        sock.close()
    return 0


def _ready(address: str) -> None:
    print(f"inbox: {address} (Ctrl-C to stop)", flush=True)


def cmd_link(args: argparse.Namespace) -> int:
    _web_extra("link")
    from statemachine.web.links import Links, link_key

    base = (args.url or os.environ.get(URL_ENVIRONMENT) or "http://127.0.0.1:8000").rstrip("/")
    try:
        links = Links(link_key())
    except InvalidArgument as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    with opened(args.store) as store:
        run = find_run(store, args.run)
    decisions = tuple(args.decision or ("confirm", "reject"))
    token = links.make(run, decisions=decisions, seconds=args.hours * 3600, actor=args.to)
    url = f"{base}/links/{token}"
    gate = run.pending_gate
    request = None if gate is None else gate.request  # `make` refused a run without one
    assert request is not None
    data = {"url": url, "run_id": run.run_id, "request_id": request.request_id,
            "decisions": list(decisions), "for": args.to, "hours": args.hours}  # fmt: skip
    output(args, data, url)
    return 0
