"""A pending request and the decisions of a run, as plain data: what the command line's
``show`` prints and what the web inbox serves, written once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from statemachine.core.actions import RequestErrorReview, RequestInput, RequestReview, RequestRoute
from statemachine.core.machine import action_of, where_asked
from statemachine.core.outbox import Notice
from statemachine.core.policy import UserInputField
from statemachine.core.record import Answer, Gate

__all__ = ["decision", "field", "notice", "pending", "when"]


def when(moment: datetime | None) -> str | None:
    """An ISO 8601 time to the second, or None (null in JSON, blank in a table) if absent."""
    return None if moment is None else moment.isoformat(timespec="seconds")


def pending(gate: Gate) -> dict[str, Any]:
    """What the gate's pending request asks, with what its kind needs: the fields of user
    input, the routes to select from, the output under review, or the error to retry or skip."""
    request = gate.request
    assert request is not None
    asked: dict[str, Any] = {
        "request_id": request.request_id,
        "kind": request.kind.value,
        "step": gate.name,
        "iteration": gate.iteration,
        "message": request.message,
        "asked_at": when(request.created_at),
        "deadline": when(request.deadline),
    }
    action = action_of(gate)
    if isinstance(action, RequestInput):
        asked["fields"] = [field(each) for each in action.fields]
    elif isinstance(action, RequestRoute):
        asked.update(choices=list(action.choices), multiple=action.multiple)
    elif isinstance(action, RequestReview):
        asked["output"] = action.output
    elif isinstance(action, RequestErrorReview):
        asked["error"] = action.error
    return asked


def field(asked: UserInputField) -> dict[str, Any]:
    """One field of a user-input schema."""
    return {
        "name": asked.name,
        "type": asked.field_type,
        "required": asked.required,
        "description": asked.description,
        "allowed_values": None if asked.allowed_values is None else list(asked.allowed_values),
    }


def decision(answer: Answer) -> dict[str, Any]:
    """An answered request: what, how, by whom, when, and what the decision carried."""
    asked = where_asked(answer.request_id)
    return {
        "request_id": answer.request_id,
        "kind": None if asked is None else asked.kind.value,
        "step": None if asked is None else asked.gate,
        "decision": answer.how,
        "by": answer.by,
        "via": "timeout" if answer.how == "timeout" else answer.via,
        "at": when(answer.at or answer.deadline),
        "decision_id": answer.decision_id,
        "value": answer.value,
    }


def notice(each: Notice) -> dict[str, Any]:
    """A notification the run owes or sent, as data: its hook (an escalation's own record has
    none), event, request, and how its delivery stands."""
    return {
        "hook": each.hook or "(escalation)",
        "event": each.event,
        "request_id": each.request_id,
        "status": each.status,
        "attempts": each.attempts,
        "error": each.error,
        "delivered_at": when(each.delivered_at),
        "due": when(each.due),
    }
