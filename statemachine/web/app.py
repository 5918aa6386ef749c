"""The inbox as an ASGI application: the pages, the JSON API and the packaged assets, with
security headers on every answer, and, while anyone on this machine may use it (no tokens),
only requests addressed to a loopback name (a web page elsewhere cannot reach it through DNS
rebinding)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from statemachine.runtime.workflow import Workflow
from statemachine.store import Store
from statemachine.web import api, linked, pages
from statemachine.web.auth import Authenticator, Signer, from_environment
from statemachine.web.context import Inbox
from statemachine.web.links import KEY_ENVIRONMENT, Links, link_key
from statemachine.web.requests import Authorize, Catalog, hooked

__all__ = ["LOOPBACK_NAMES", "create_app"]

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_HEADERS = [
    (b"content-security-policy",
     # Mermaid styles the diagrams it draws with a <style> inside each SVG.
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"frame-ancestors 'none'; "
     b"form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]  # fmt: skip


class _Guard:
    """Adds the security headers; refuses a Host that is not loopback when `loopback_only`."""

    def __init__(self, app: ASGIApp, loopback_only: bool) -> None:
        self.app, self.loopback_only = app, loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.loopback_only and _host(scope) not in LOOPBACK_NAMES:
            await send({"type": "http.response.start", "status": 421,
                        "headers": [(b"content-type", b"text/plain"), *_HEADERS]})  # fmt: skip
            body = b"this server answers requests addressed to 127.0.0.1 or localhost only"
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _host(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            return host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
    return ""


def prometheus_metrics(store: Store) -> bool:
    """Measure the library's work (`statemachine.instrument`) and `store`'s waiting requests
    into Prometheus' registry, for ``/metrics``; False when the ``otel`` extra or
    ``opentelemetry-exporter-prometheus`` is missing (then nothing is measured)."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError:
        return False
    from statemachine.store.telemetry import instrument, observe

    instrument(MeterProvider(metric_readers=[PrometheusMetricReader()]))
    observe(store)
    return True


def create_app(
    store: Store,
    workflows: Iterable[Workflow] = (),
    *,
    users: Authenticator | None = None,
    refusals: Iterable[Authorize] = (),
    signer: Signer | None = None,
    links: Links | None = None,
    on_startup: Callable[[], None] | None = None,
    metrics: bool = False,
) -> Starlette:
    """The inbox for the runs in `store`.

    Args:
        workflows: the workflows whose runs it shows by their steps' names and messages
            (runs of other workflows show their gate keys).
        users: who may use it (default: the environment's, `auth.from_environment`).
        refusals: hooks ``(actor, run, gate) -> reason or None``, each able to refuse a
            decision (answered 403, and nothing is written).
        signer: the key of sessions and CSRF tokens (default: ``STATEMACHINE_SECRET``, or a
            random one).
        links: decision links' key (default: ``STATEMACHINE_LINK_KEY``, if set; without
            one, links are not served).
        on_startup: called once the application has started.
        metrics: serve ``/metrics`` in Prometheus' text format, behind the API's tokens (call
            `prometheus_metrics(store)` first).

    Raises:
        InvalidArgument: the environment's users are malformed.
    """
    catalog = Catalog(workflows)
    inbox = Inbox(
        store, catalog, users or from_environment(), signer or Signer(),
        (hooked(catalog), *refusals), metrics,
    )  # fmt: skip
    static = StaticFiles(directory=Path(__file__).parent / "static")
    if links is None and os.environ.get(KEY_ENVIRONMENT):
        links = Links(link_key())
    routes = [*api.routes(inbox), *pages.routes(inbox), Mount("/static", static)]
    if links is not None:
        routes += linked.routes(inbox, links)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            on_startup()
        yield
        # What the store opened for this event loop ends with it (Redis's asyncio
        # connections); the store itself stays open for whoever opened it. The default
        # `aclose` closes the whole store, so only an override is called.
        if type(store).aclose is not Store.aclose:
            await store.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(_Guard, loopback_only=not inbox.users.required)
    return app
