"""The API's OpenAPI 3.1 schema, served at ``/api/openapi.json``: written by hand, and held to
the routes by a test."""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMA"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "bad_request (a malformed body or parameter), or invalid_input, invalid_selection, "
        "wrong_decision (the decision does not fit the request)",
        401: "unauthenticated: no token, or one nobody holds",
        403: "actor_refused: this user may not make this decision",
        404: "run_not_found",
        409: "stale_request: the request is not pending (decided by someone else, cancelled, "
        "or the run moved on)",
        410: "deadline_passed: the request's deadline passed; its timeout applied instead",
        413: "body_too_large",
        415: "unsupported_media_type: the body must be application/json",
        422: "decision_conflict: the decision id was used before for another decision",
        503: "store_unavailable",
    }
    return {str(code): _json(_ref("Error"), meaning[code]) for code in codes}


_TEXT = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_ANY: dict[str, Any] = {}
_KINDS = ["confirmation", "input", "route", "review", "error"]
_VERDICTS = ["confirm", "reject", "edit", "input", "provide", "route", "select", "retry", "skip"]

_REQUEST = {
    "type": "object",
    "required": ["run_id", "request_id", "workflow", "step_name", "kind", "message", "output",
                 "deadline", "assignees"],
    "properties": {
        "run_id": {"type": "string"},
        "request_id": {"type": "string"},
        "workflow": {"type": "string"},
        "step": {"type": "string", "description": "the gate's key (container/step)"},
        "step_name": {"type": "string"},
        "kind": {"type": "string", "enum": _KINDS},
        "message": _TEXT,
        "output": {"description": "for a review: the output under review"},
        "previous_output": {"description": "the output of the iteration before, if any"},
        "feedback": {"type": "array", "items": _TEXT, "description": "one per rejection"},
        "error": {**_TEXT, "description": "for an error request: what the step raised"},
        "fields": {"type": ["array", "null"], "description": "for input: the schema's fields"},
        "choices": {"type": ["array", "null"], "items": {"type": "string"}},
        "multiple": {"type": "boolean"},
        "iteration": {"type": "integer"},
        "max_iterations": {"type": "integer"},
        "asked_at": _TIME,
        "deadline": _TIME,
        "assignees": {"type": "array", "items": {"type": "string"},
                      "description": "empty: open to every reviewer"},
        "run_version": {"type": "integer"},
    },
}  # fmt: skip

_DECISION = {
    "type": "object",
    "required": ["request_id", "decision"],
    "additionalProperties": False,
    "properties": {
        "request_id": {"type": "string", "description": "the pending request decided"},
        "decision": {"type": "string", "enum": _VERDICTS,
                     "description": "input is provide, route is select"},
        "feedback": {**_TEXT, "description": "with reject: for the next iteration"},
        "value": {"description": "input: an object of values; route: a name or a list of "
                  "names; edit: the edited output"},
        "decision_id": {**_TEXT, "description": "makes a retry idempotent: the same id and "
                        "decision answer duplicate"},
    },
}  # fmt: skip

_RUN = {
    "type": "object",
    "properties": {
        "run_id": {"type": "string"},
        "workflow": {"type": "string"},
        "status": {"type": "string"},
        "state": {"type": "string"},
        "version": {"type": "integer"},
        "pending": {"oneOf": [_ref("PendingRequest"), {"type": "null"}]},
        "decisions": {"type": "array", "items": {"type": "object", "properties": {
            "request_id": {"type": "string"}, "kind": _TEXT, "step": _TEXT,
            "decision": {"type": "string"}, "by": _TEXT, "via": _TEXT, "at": _TIME,
            "decision_id": _TEXT, "value": _ANY}}},
        "notices": {"type": "array", "items": {"type": "object", "properties": {
            "hook": {"type": "string"}, "event": {"type": "string"},
            "request_id": {"type": "string"},
            "status": {"type": "string", "enum": ["delivered", "pending", "failed"]},
            "attempts": {"type": "integer"}, "error": _TEXT, "delivered_at": _TIME,
            "due": _TIME}}},
        "gates": {"type": "array", "items": {"type": "object"}},
        "history": {"type": "array", "items": {"type": "object"}},
        "input": _ANY,
        "result": _ANY,
        "error": _TEXT,
    },
}  # fmt: skip

_PAGE_PARAMETERS = [
    {"name": "workflow", "in": "query", "schema": {"type": "string"}},
    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": _KINDS}},
    {"name": "assignee", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                                  "default": 50}},
    {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["newest", "oldest"],
                                                  "default": "newest"},
     "description": "most recently asked first, or the longest waiting first"},
    {"name": "cursor", "in": "query", "schema": {"type": "string"},
     "description": "next_cursor of the page before (with the same order)"},
]  # fmt: skip
_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}

SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "hitl-statemachine inbox", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "PendingRequest": _REQUEST,
            "Decision": _DECISION,
            "Run": _RUN,
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["type", "message"],
                                         "properties": {"type": {"type": "string"},
                                                        "message": {"type": "string"}}}},
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/requests": {"get": {
            "summary": "Pending requests, most recently paused first",
            "parameters": _PAGE_PARAMETERS,
            "responses": {
                "200": _json({"type": "object", "properties": {
                    "items": {"type": "array", "items": _ref("PendingRequest")},
                    "next_cursor": _TEXT,
                    "unreadable": {"type": "integer"}}}, "a page"),
                **_errors(400, 401, 503),
            },
        }},
        "/api/runs/{run_id}": {"get": {
            "summary": "One run: status, states, the pending request, every decision",
            "parameters": [_RUN_ID],
            "responses": {"200": _json(_ref("Run"), "the run"), **_errors(400, 401, 404, 503)},
        }},
        "/api/runs/{run_id}/decisions": {"post": {
            "summary": "Decide the run's pending request, as the authenticated user",
            "parameters": [_RUN_ID],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("Decision")}}},
            "responses": {
                "200": _json({"type": "object", "properties": {
                    "outcome": {"type": "string", "enum": ["applied", "duplicate"]},
                    "run": {"type": "object"}}}, "recorded (or recorded before)"),
                **_errors(400, 401, 403, 404, 409, 410, 413, 415, 422, 503),
            },
        }},
        "/api/openapi.json": {"get": {
            "summary": "This schema", "security": [],
            "responses": {"200": {"description": "the schema"}},
        }},
    },
}  # fmt: skip
