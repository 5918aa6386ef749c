"""What every handler of the inbox shares: the store, the workflows, who may do what, and how
errors are answered (a typed JSON body for the API, a page for the browser)."""

from __future__ import annotations

import json
from typing import Any

import attrs
from starlette.requests import Request

from statemachine.core.errors import (
    ConflictError,
    CorruptRun,
    InvalidArgument,
    RunNotFound,
    StateMachineError,
    StoreNotFound,
    StoreUnavailable,
)
from statemachine.core.refusals import (
    ActorRefused,
    DeadlinePassed,
    DecisionConflict,
    InvalidInput,
    InvalidSelection,
    StaleRequest,
    WrongDecision,
)
from statemachine.store import Store
from statemachine.web.auth import Authenticator, Signer, User
from statemachine.web.requests import Authorize, Catalog

__all__ = ["BODY_LIMIT", "SESSION_COOKIE", "Inbox", "Problem", "body_of", "problem_of"]

SESSION_COOKIE = "statemachine_session"
BODY_LIMIT = 1 << 20  # a decision, however large its edited output, fits in 1 MiB


@attrs.frozen
class Inbox:
    """The server's state: one per app."""

    store: Store
    catalog: Catalog
    users: Authenticator
    signer: Signer
    refusals: tuple[Authorize, ...] = ()
    metrics: bool = False
    """Whether ``/metrics`` answers, in Prometheus' text format (see `prometheus_metrics`)."""

    def groups(self, name: str) -> tuple[str, ...]:
        """The groups of the user called `name` (none for one gone, or the local user)."""
        user = self.users.user(name)
        return () if user is None else user.groups

    def session_user(self, request: Request) -> User | None:
        """The user of the browser's session cookie (the local user when no token is
        required), or None."""
        if not self.users.required:
            return self.users.authenticate(None)
        name = self.signer.session_user(request.cookies.get(SESSION_COOKIE))
        return None if name is None else self.users.user(name)

    def bearer_user(self, request: Request) -> User | None:
        """The user of the API call's ``Authorization: Bearer`` token, or None."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return self.users.authenticate(token.strip() if scheme.lower() == "bearer" else None)


@attrs.frozen
class Problem(Exception):
    """An error answered with `status` and a typed body: ``{"error": {"type": ..., "message":
    ..., ...details}}``."""

    status: int
    type: str
    message: str
    details: dict[str, Any] = attrs.field(factory=dict)

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message, **self.details}}


def json_of(text: str | bytes) -> Any:
    """`json.loads(text)`, where a document nested too deeply to parse is a ValueError, as
    malformed JSON is (the parser raises RecursionError for it)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def problem_of(exc: StateMachineError) -> Problem:
    """The status and typed body a library error is answered with; nothing was changed."""
    message = " ".join(str(exc).split())
    if isinstance(exc, ActorRefused):
        return Problem(403, "actor_refused", message, {"actor": exc.actor})
    if isinstance(exc, StaleRequest):
        details = {"request_id": exc.request_id, "pending_request_id": exc.pending_request_id}
        return Problem(409, "stale_request", message, details)
    if isinstance(exc, DeadlinePassed):
        details = {"request_id": exc.request_id, "deadline": exc.deadline.isoformat()}
        return Problem(410, "deadline_passed", message, details)
    if isinstance(exc, DecisionConflict):
        return Problem(422, "decision_conflict", message, {"decision_id": exc.decision_id})
    if isinstance(exc, InvalidInput):
        return Problem(400, "invalid_input", message, {"problems": list(exc.problems)})
    if isinstance(exc, InvalidSelection):
        return Problem(400, "invalid_selection", message, {"choices": list(exc.choices)})
    if isinstance(exc, WrongDecision):
        return Problem(400, "wrong_decision", message, {"asked": exc.asked})
    if isinstance(exc, RunNotFound | StoreNotFound):
        return Problem(404, "run_not_found", message)
    if isinstance(exc, InvalidArgument):
        return Problem(400, "bad_request", message)
    if isinstance(exc, StoreUnavailable | ConflictError):
        return Problem(503, "store_unavailable", message)
    if isinstance(exc, CorruptRun):
        return Problem(500, "corrupt_run", message)
    return Problem(500, "error", _jsonable(message))


async def body_of(request: Request, what: str) -> bytes:
    """The request's body, read up to `BODY_LIMIT` bytes (`what` names it in the refusal)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_LIMIT:
            raise Problem(413, "body_too_large", f"the {what} is over {BODY_LIMIT} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
