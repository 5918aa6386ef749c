"""The inbox's pages: pending requests, one request with its decision controls, one run with
its audit trail, and signing in. Server-rendered, every value escaped by the templates;
every form carries a CSRF token, and a decision a decision id made when its page was shown,
so that submitting it twice records it once."""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from statemachine.core.decisions import Verdict
from statemachine.core.errors import InvalidArgument, StateMachineError
from statemachine.core.events import JSON
from statemachine.core.machine import where_asked
from statemachine.core.record import RequestKind, RunRecord, RunStatus
from statemachine.store import check_run_id, new_id
from statemachine.tools.asked import field as field_of
from statemachine.web.auth import User
from statemachine.web.context import (
    SESSION_COOKIE,
    Inbox,
    Problem,
    body_of,
    json_of,
    problem_of,
)
from statemachine.web.requests import Choice, Filters, apply, pending_page, run_view, viewer

__all__ = ["TEMPLATES", "form_of", "one", "routes", "text_of"]

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("statemachine.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_TITLES = {
    400: "That decision cannot be recorded",
    403: "Not allowed",
    404: "Not found",
    409: "Already decided",
    410: "Too late",
    422: "Decided otherwise already",
}


def text_of(value: JSON) -> str:
    """A value as a reviewer reads it: text as it is, anything else as indented JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def changes(before: JSON, after: JSON) -> list[tuple[str, str]]:
    """The lines of `after` against `before`, each marked ``add``, ``del`` or ``same``."""
    marks = {"+": "add", "-": "del", " ": "same"}
    lines = difflib.ndiff(text_of(before).splitlines(), text_of(after).splitlines())
    return [(marks[line[0]], line[2:]) for line in lines if line[0] in marks]


def span(seconds: float) -> str:
    """A duration in words, to the minute (under a minute: seconds)."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _timed(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The item with how long ago it was asked, and how long is left before its deadline."""
    shown = dict(item)
    asked = item["asked_at"]
    shown["asked_ago"] = (
        f"{span((now - datetime.fromisoformat(asked)).total_seconds())} ago" if asked else ""
    )
    deadline = item["deadline"]
    left = None if deadline is None else (datetime.fromisoformat(deadline) - now).total_seconds()
    shown["overdue"] = left is not None and left <= 0
    if left is not None:
        shown["time_left"] = f"{span(left)} left" if left > 0 else f"overdue by {span(left)}"
    return shown


def _local(path: str | None) -> str:
    """`path` if it is a path on this server, else the inbox (no open redirect)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


async def form_of(request: Request) -> dict[str, list[str]]:
    body = await body_of(request, "form")
    try:
        return parse_qs(body.decode(), keep_blank_values=True)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "bad_request", "the form cannot be read") from None


def one(form: dict[str, list[str]], name: str) -> str | None:
    found = form.get(name)
    return found[-1] if found else None


def _field_value(kind: str, raw: str, allowed: bool) -> JSON:
    try:
        if allowed or kind in ("list", "dict"):
            value: JSON = json_of(raw)
            return value
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise InvalidArgument(f"{raw[:40]!r} is not a valid {kind}") from None
    return raw


def _values(form: dict[str, list[str]], fields: list[dict[str, Any]] | None) -> JSON:
    """The values of an input form, typed as its schema says (the store checks them)."""
    if not fields:
        try:
            given: JSON = json_of(one(form, "values") or "{}")
            return given
        except ValueError:
            raise InvalidArgument("the values must be a JSON object") from None
    values: dict[str, JSON] = {}
    for field in fields:
        raw = one(form, f"field:{field['name']}")
        if field["type"] == "bool":
            values[field["name"]] = raw == "true"
        elif raw:
            values[field["name"]] = _field_value(
                field["type"], raw, field["allowed_values"] is not None
            )
    return values


def _choice(form: dict[str, list[str]], item: dict[str, Any]) -> Choice:
    """The decision a request page's form sent."""
    name = one(form, "decision") or ""
    if name not in Verdict.__members__:
        raise InvalidArgument(f"unknown decision {name[:40]!r}")
    verdict, value = Verdict(name), None
    if verdict is Verdict.provide:
        value = _values(form, item["fields"])
    elif verdict is Verdict.select:
        value = form.get("route", [])
    elif verdict is Verdict.edit:
        text = one(form, "value") or ""
        try:
            value = text if one(form, "format") == "text" else json_of(text)
        except ValueError:
            raise InvalidArgument("the edited output must be JSON, as the output was") from None
    feedback = (one(form, "feedback") or "").strip() or None
    return Choice(item["request_id"], verdict, feedback, value, one(form, "decision_id") or None)


def routes(inbox: Inbox) -> list[Route]:
    """The pages' routes, answering for `inbox`."""

    def render(
        request: Request, name: str, user: User | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        session = request.cookies.get(SESSION_COOKIE)
        html = TEMPLATES.get_template(name).render(
            user=user, csrf=inbox.signer.csrf(session), signed_in=inbox.users.required,
            refresh=values.pop("refresh", None), diagram=values.pop("diagram", None), **values,
        )  # fmt: skip
        return HTMLResponse(html, status)

    def page(handler: Any, *, post: bool = False) -> Any:
        async def endpoint(request: Request) -> Response:
            user = inbox.session_user(request)
            if user is None:
                target = urlencode({"next": request.url.path})
                return RedirectResponse(f"/login?{target}", 303)
            try:
                form = await form_of(request) if post else {}
                if post and not inbox.signer.csrf_ok(
                    request.cookies.get(SESSION_COOKIE), one(form, "csrf")
                ):
                    raise Problem(
                        403,
                        "csrf_failed",
                        "the form is stale or came from another site: reload it and try again",
                    )
                return await handler(request, user, form)  # type: ignore[no-any-return]
            except StateMachineError as exc:
                problem = problem_of(exc)
            except Problem as raised:
                problem = raised
            return refused(request, user, problem)

        return endpoint

    def refused(request: Request, user: User | None, problem: Problem) -> HTMLResponse:
        title = _TITLES.get(problem.status, "Something went wrong")
        run_id = request.path_params.get("run_id")
        return render(request, "problem.html", user, problem.status, title=title,
                      type=problem.type, message=problem.message, run_id=run_id)  # fmt: skip

    async def inbox_page(request: Request, user: User, form: Any) -> Response:
        query = request.query_params
        filters = Filters.parse(query.get("workflow"), query.get("kind"), None, query.get("order"))
        listed = await pending_page(inbox.store, inbox.catalog, filters, 50, query.get("cursor"))
        now = await inbox.store.anow()
        wanted = {key: value for key, value in query.items() if key != "cursor" and value}
        next_href = "/?" + urlencode({**wanted, "cursor": listed.cursor or ""})
        return render(
            request, "inbox.html", user, items=[_timed(item, now) for item in listed.items],
            filters=filters, kinds=[kind.value for kind in RequestKind],
            workflows=sorted(inbox.catalog.workflows), next_cursor=listed.cursor,
            next_href=next_href, unreadable=listed.unreadable,
        )  # fmt: skip

    async def run_page(request: Request, user: User, form: Any) -> Response:
        found = await inbox.store.aget(check_run_id(request.path_params["run_id"]))
        view = run_view(found, inbox.catalog)
        for each in view["decisions"]:
            each["value_text"] = text_of(each["value"])
        moving = found.status in (RunStatus.pending, RunStatus.running)
        result = view["result"] if found.status is RunStatus.completed else None
        return render(request, "run.html", user, run=view, refresh=2 if moving else None,
                      diagram=inbox.catalog.diagram(found),
                      decided=request.query_params.get("decided"),
                      result_text=None if result is None else text_of(result))  # fmt: skip

    async def pending_item(request: Request) -> tuple[dict[str, Any], RunRecord]:
        found = await inbox.store.aget(check_run_id(request.path_params["run_id"]))
        item = run_view(found, inbox.catalog)["pending"]
        if item is None or item["request_id"] != request.path_params["request_id"]:
            raise Problem(
                409,
                "stale_request",
                "This request is no longer pending: it was decided, it timed out, or the run "
                "was cancelled.",
            )
        pending: dict[str, Any] = item
        return pending, found

    async def request_page(request: Request, user: User, form: Any) -> Response:
        item, found = await pending_item(request)
        now = await inbox.store.anow()
        output = item["output"]
        diff = None
        if item["kind"] == "review" and item["previous_output"] is not None:
            diff = changes(item["previous_output"], output)
        return render(
            request, "request.html", user, item=_timed(item, now), output_text=text_of(output),
            output_is_text=isinstance(output, str), diff=diff,
            feedback=item["feedback"],
            decision_ids={verdict.value: new_id() for verdict in Verdict},
            diagram=inbox.catalog.diagram(found),
        )  # fmt: skip

    async def decide(request: Request, user: User, form: dict[str, list[str]]) -> Response:
        run_id = check_run_id(request.path_params["run_id"])
        found = await inbox.store.aload(run_id)
        # The form is read by the schema of the gate that asked, pending or not: a form sent
        # twice is read the same way, and the store answers the second `duplicate`.
        request_id = request.path_params["request_id"]
        asked = where_asked(request_id)
        gate = None if asked is None else found.gate(asked.gate)
        schema = () if gate is None else gate.policy.user_input_schema
        item = {"request_id": request_id, "fields": [field_of(each) for each in schema] or None}
        choice = _choice(form, item)
        refusals = inbox.refusals if user.may_decide else (viewer, *inbox.refusals)
        result = await apply(
            inbox.store, run_id, choice, user.name, refusals, via="web", groups=user.groups
        )
        return RedirectResponse(f"/runs/{run_id}?decided={result.outcome.value}", 303)

    async def login_page(request: Request) -> Response:
        if not inbox.users.required:
            return RedirectResponse("/", 303)
        next_path = _local(request.query_params.get("next"))
        return render(request, "login.html", None, next=next_path, failed=False)

    async def login(request: Request) -> Response:
        try:
            form = await form_of(request)
        except Problem as problem:  # a body too large, or not a form
            return refused(request, None, problem)
        next_path = _local(one(form, "next"))
        if not inbox.signer.csrf_ok(request.cookies.get(SESSION_COOKIE), one(form, "csrf")):
            return render(request, "login.html", None, 403, next=next_path, failed=True)
        user = inbox.users.authenticate(one(form, "token"))
        if user is None or not inbox.users.required:
            return render(request, "login.html", None, 401, next=next_path, failed=True)
        response = RedirectResponse(next_path, 303)
        response.set_cookie(
            SESSION_COOKIE, inbox.signer.session(user), max_age=inbox.signer.SESSION_SECONDS,
            httponly=True, samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    async def logout(request: Request, user: User, form: Any) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    return [
        Route("/", page(inbox_page)),
        Route("/runs/{run_id}", page(run_page)),
        Route("/runs/{run_id}/requests/{request_id}", page(request_page)),
        Route("/runs/{run_id}/requests/{request_id}", page(decide, post=True), methods=["POST"]),
        Route("/login", login_page),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(logout, post=True), methods=["POST"]),
    ]
