"""The JSON API: pending requests, one run, and decisions (see `openapi.SCHEMA`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from statemachine.core.errors import InvalidArgument, StateMachineError
from statemachine.store import check_run_id
from statemachine.web.context import Inbox, Problem, body_of, json_of, problem_of
from statemachine.web.openapi import SCHEMA
from statemachine.web.requests import Filters, apply, parse_decision, pending_page, run_view, viewer

__all__ = ["routes"]

Handler = Callable[[Request, str, bool], Awaitable[Response]]


def _answer(problem: Problem) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return JSONResponse(problem.body(), problem.status, headers=headers)


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1000:
        raise InvalidArgument("limit must be an integer from 1 to 1000")
    return int(text)


async def _body(request: Request) -> Any:
    """The request's JSON, read up to `BODY_LIMIT` bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        # A cross-site form cannot send this type without a preflight, which is refused.
        raise Problem(415, "unsupported_media_type", "send the decision as application/json")
    body = await body_of(request, "body")
    try:
        return json_of(body)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "bad_request", "the body is not JSON") from None


def routes(inbox: Inbox) -> list[Route]:
    """The API's routes, answering for `inbox`."""

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                user = inbox.bearer_user(request)
                if user is None:
                    raise Problem(401, "unauthenticated", "send Authorization: Bearer TOKEN")
                answer: Response = await handler(request, user.name, user.may_decide)
                return answer
            except Problem as problem:
                return _answer(problem)
            except StateMachineError as exc:
                return _answer(problem_of(exc))

        return endpoint

    async def requests(request: Request, actor: str, may_decide: bool) -> Response:
        query = request.query_params
        filters = Filters.parse(
            query.get("workflow"), query.get("kind"), query.get("assignee"), query.get("order")
        )
        page = await pending_page(
            inbox.store, inbox.catalog, filters, _limit(query.get("limit")), query.get("cursor")
        )
        body = {"items": page.items, "next_cursor": page.cursor, "unreadable": page.unreadable}
        return JSONResponse(body)

    async def run(request: Request, actor: str, may_decide: bool) -> Response:
        found = await inbox.store.aget(check_run_id(request.path_params["run_id"]))
        return JSONResponse(run_view(found, inbox.catalog))

    async def decisions(request: Request, actor: str, may_decide: bool) -> Response:
        run_id = check_run_id(request.path_params["run_id"])
        choice = parse_decision(await _body(request))
        refusals = inbox.refusals if may_decide else (viewer, *inbox.refusals)
        result = await apply(
            inbox.store, run_id, choice, actor, refusals, groups=inbox.groups(actor)
        )
        summary = run_view(result.run, inbox.catalog)
        return JSONResponse(
            {
                "outcome": result.outcome.value,
                "run": {key: summary[key] for key in ("run_id", "status", "state", "version")},
            }
        )

    async def schema(request: Request) -> Response:
        return JSONResponse(SCHEMA)

    async def metrics(request: Request, actor: str, may_decide: bool) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/api/openapi.json", schema),
        Route("/api/requests", guarded(requests)),
        Route("/api/runs/{run_id}", guarded(run)),
        Route("/api/runs/{run_id}/decisions", guarded(decisions), methods=["POST"]),
        *([Route("/metrics", guarded(metrics))] if inbox.metrics else []),
    ]
