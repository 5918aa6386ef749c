"""The pages of decision links (`links`): GET shows what the link decides and asks to
confirm; only the POST decides, once."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from statemachine.core.decisions import Verdict
from statemachine.core.errors import StateMachineError
from statemachine.core.record import RunRecord
from statemachine.core.refusals import DecisionConflict
from statemachine.store import check_run_id
from statemachine.web.context import Inbox, Problem, problem_of
from statemachine.web.links import Claims, LinkExpired, LinkInvalid, Links
from statemachine.web.pages import TEMPLATES, form_of, one, text_of
from statemachine.web.requests import request_item

__all__ = ["routes"]

_USED = Problem(409, "link_used", "This link was used already: it decides once.")
_MOVED = Problem(
    409, "stale_request", "This link no longer applies: the request was decided, timed out, or "
    "the run was cancelled.",
)  # fmt: skip


def routes(inbox: Inbox, links: Links) -> list[Route]:
    """The link pages' routes."""

    def page(status: int, **values: Any) -> HTMLResponse:
        shown = {"problem": None, "decided": None, "item": None, "claims": None,
                 "diagram": None, **values}  # fmt: skip
        html = TEMPLATES.get_template("link.html").render(user=None, csrf="", signed_in=False,
                                                          refresh=None, **shown)  # fmt: skip
        return HTMLResponse(html, status)

    def refused(problem: Problem) -> HTMLResponse:
        return page(problem.status, problem=problem)

    async def current(claims: Claims) -> RunRecord:
        run = await inbox.store.aload(check_run_id(claims.run_id))
        if run.answer(decision_id=claims.decision_id) is not None:
            raise _USED
        gate = run.pending_gate
        if gate is None or gate.request is None or gate.request.request_id != claims.request_id:
            raise _MOVED
        if run.version < claims.version:  # signed, so never ahead of the run: altered
            raise _MOVED
        return run

    async def endpoint(request: Request) -> Response:
        try:
            claims = links.read(request.path_params["token"])
            if request.method == "GET":
                run = await current(claims)
                gate = run.pending_gate
                assert gate is not None
                item = request_item(run, gate, inbox.catalog)
                return page(200, item=item, claims=claims, output_text=text_of(item["output"]))
            form = await form_of(request)
            name = one(form, "decision")
            if name not in claims.decisions:
                raise Problem(400, "bad_request", "this link does not allow that decision")
            run = await current(claims)
            feedback = (one(form, "feedback") or "").strip() or None
            result = await inbox.store.adecide(
                run.run_id, claims.request_id, Verdict(name), feedback,
                decision_id=claims.decision_id, by=claims.actor, seen=run, via="link",
            )  # fmt: skip
            if result.outcome.value == "duplicate":
                raise _USED
            return page(200, decided=name)
        except LinkInvalid as exc:
            return refused(Problem(400, "link_invalid", str(exc)))
        except LinkExpired as exc:
            return refused(Problem(410, "link_expired", str(exc)))
        except DecisionConflict:
            return refused(_USED)
        except Problem as problem:
            return refused(problem)
        except StateMachineError as exc:
            return refused(problem_of(exc))

    return [Route("/links/{token}", endpoint, methods=["GET", "POST"])]
