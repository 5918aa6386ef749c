"""``statemachine serve``: the inbox on uvicorn, on a socket bound before it starts, so that
the address it prints already answers."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable

from statemachine.core.errors import InvalidArgument
from statemachine.runtime.workflow import Workflow
from statemachine.store import Store
from statemachine.web.auth import TOKEN_ENVIRONMENT, USERS_ENVIRONMENT, Authenticator

__all__ = ["bind", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (``localhost`` or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int, users: Authenticator) -> socket.socket:
    """A listening socket on `host`:`port` (0: a free port).

    Raises:
        InvalidArgument: `host` is not loopback and no token is required (anyone who can
            reach the address could decide), or it cannot be bound.
    """
    if not is_loopback(host) and not users.required:
        raise InvalidArgument(
            f"refusing to listen on {host} without authentication: set {TOKEN_ENVIRONMENT} or "
            f"{USERS_ENVIRONMENT}, or listen on 127.0.0.1"
        )
    try:
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        raise InvalidArgument(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def serve(
    store: Store,
    workflows: Iterable[Workflow],
    sock: socket.socket,
    users: Authenticator,
    *,
    ready: Callable[[str], None] | None = None,
    metrics: bool = False,
) -> None:
    """Serve the inbox on `sock` until SIGINT or SIGTERM; `ready` gets its address once it
    answers."""
    import uvicorn

    from statemachine.web.app import create_app

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/"
    app = create_app(store, workflows, users=users, metrics=metrics,
                     on_startup=None if ready is None else lambda: ready(address))  # fmt: skip
    config = uvicorn.Config(app, log_level="warning", lifespan="on", server_header=False)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
