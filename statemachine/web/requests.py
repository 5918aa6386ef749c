"""The inbox's data, for the JSON API and the pages alike: pending requests a page at a time
through the stores' state indexes, one run as a reviewer reads it, and a decision checked and
recorded with its actor.

A listing reads at most two pages of `limit` runs (the runs awaiting a confirmation, input or
route, and those awaiting a review or an error decision), whatever the number of runs stored;
the cursor holds how far it went into each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from statemachine.core.decisions import DecisionResult, Verdict
from statemachine.core.errors import InvalidArgument, StateMachineError, StoreNotFound, shorten
from statemachine.core.events import JSON
from statemachine.core.record import Gate, RequestKind, RunRecord, RunStatus
from statemachine.core.refusals import ActorRefused
from statemachine.runtime.requirements import message_of
from statemachine.runtime.workflow import Workflow
from statemachine.store import Store, run_state
from statemachine.tools.asked import decision, notice, pending, when
from statemachine.tools.flowchart import flowchart

__all__ = [
    "ORDERS",
    "Catalog",
    "Choice",
    "Filters",
    "Page",
    "apply",
    "parse_decision",
    "pending_page",
    "request_item",
    "run_view",
    "viewer",
]

_WAITING_ON = {
    RequestKind.confirmation: "awaiting_confirmation",
    RequestKind.input: "awaiting_confirmation",
    RequestKind.route: "awaiting_confirmation",
    RequestKind.review: "awaiting_review",
    RequestKind.error: "awaiting_review",
}
_STATES = ("awaiting_confirmation", "awaiting_review")
_CURSOR = re.compile(r"(\d{1,9})\.(\d{1,9})(o?)")  # "o": made for the oldest first
ORDERS = ("newest", "oldest")
"""The orders of a listing: most recently asked first, or the longest waiting first."""

ALIASES = {"input": Verdict.provide, "route": Verdict.select}
"""The API's names for decisions beside the store's own (`Verdict`)."""


class Catalog:
    """The workflows the server was given (`--app`), by name: they name steps as their authors
    did and give the default messages; runs of other workflows are shown by their gate keys."""

    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        self.workflows = {workflow.name: workflow for workflow in workflows}

    def step_name(self, run: RunRecord, gate: Gate) -> str:
        workflow = self.workflows.get(run.workflow)
        return gate.name if workflow is None else workflow.definition.name_of(gate.name)

    def diagram(self, run: RunRecord) -> str | None:
        """The run's place in a Mermaid flowchart of its workflow, if the workflow is known
        and the run still fits it."""
        workflow = self.workflows.get(run.workflow)
        if workflow is None:
            return None
        try:
            return flowchart(workflow, run)
        except StateMachineError:  # a run of an older definition: shown without its diagram
            return None

    def message(self, run: RunRecord, gate: Gate) -> str | None:
        workflow = self.workflows.get(run.workflow)
        if workflow is None:
            return message_of(gate, "Step", gate.name.rsplit("/", 1)[-1])
        definition = workflow.definition
        return message_of(gate, definition.kind_name(gate.name), definition.name_of(gate.name))


@attrs.frozen
class Filters:
    """Which pending requests a listing shows (None: any), and in which order: most recently
    asked first, or with `oldest_first` the longest waiting first."""

    workflow: str | None = None
    kind: RequestKind | None = None
    assignee: str | None = None
    oldest_first: bool = False

    @classmethod
    def parse(
        cls, workflow: str | None, kind: str | None, assignee: str | None, order: str | None = None
    ) -> Filters:
        """From query parameters (an empty one is no filter; `order` is ``newest``, the
        default, or ``oldest``).

        Raises:
            InvalidArgument: an unknown kind or order.
        """
        try:
            asked = RequestKind(kind) if kind else None
        except ValueError:
            known = ", ".join(each.value for each in RequestKind)
            raise InvalidArgument(f"unknown kind {shorten(kind)}; one of: {known}") from None
        if order not in (None, "", *ORDERS):
            raise InvalidArgument(f"unknown order {shorten(order)}; one of: {', '.join(ORDERS)}")
        return cls(workflow or None, asked, assignee or None, order == "oldest")

    def admit(self, run: RunRecord, gate: Gate) -> bool:
        assert gate.request is not None
        return (
            (self.workflow is None or run.workflow == self.workflow)
            and (self.kind is None or gate.request.kind is self.kind)
            and (self.assignee is None or self.assignee in gate.policy.assignees)
        )


@attrs.frozen
class Page:
    """A page of pending requests, and the cursor of the next (None: this was the last)."""

    items: list[dict[str, Any]]
    cursor: str | None
    unreadable: int


def _offsets(cursor: str | None, oldest_first: bool) -> list[int]:
    if cursor is None or cursor == "":
        return [0, 0]
    found = _CURSOR.fullmatch(cursor)
    if found is None:
        raise InvalidArgument(f"malformed cursor {shorten(cursor)}: pass back the one a page gave")
    if bool(found.group(3)) != oldest_first:
        made = "oldest" if found.group(3) else "newest"
        raise InvalidArgument(f"this cursor was made for order={made}: pass that order with it")
    return [int(found.group(1)), int(found.group(2))]


async def pending_page(
    store: Store, catalog: Catalog, filters: Filters, limit: int, cursor: str | None
) -> Page:
    """The pending requests that pass `filters`, most recently paused first (or, with the
    filters' `oldest_first`, the longest waiting first), at most `limit`.

    Each of the two indexes is read one page of `limit` runs from where the cursor left it,
    from the end the order starts at; the runs are merged in that order and taken while both
    pages last (or one is exhausted), so a filter that admits few runs gives short pages,
    never a scan.

    Raises:
        InvalidArgument: a limit out of 1..1000, or a cursor this listing did not make.
    """
    if type(limit) is not int or not 1 <= limit <= 1000:
        raise InvalidArgument("limit must be an integer from 1 to 1000")
    offsets = _offsets(cursor, filters.oldest_first)
    wanted = [
        state for state in _STATES if filters.kind is None or _WAITING_ON[filters.kind] == state
    ]
    try:
        pages = {
            state: await store.apage(
                state,
                limit=limit,
                offset=offsets[_STATES.index(state)],
                oldest_first=filters.oldest_first,
            )
            for state in wanted
        }
    except StoreNotFound:  # nothing was ever stored there: nothing waits
        return Page([], None, 0)
    unreadable = sum(len(page.unreadable) for page in pages.values())
    # A run whose read failed still counts as read: the next page starts after it.
    read = {state: len(page) + len(page.unreadable) for state, page in pages.items()}
    merged = sorted(
        ((run, state) for state, page in pages.items() for run in page),
        key=lambda pair: (pair[0].updated_at, pair[0].run_id),
        reverse=not filters.oldest_first,
    )
    taken = dict.fromkeys(pages, 0)
    items: list[dict[str, Any]] = []
    for run, state in merged:
        if len(items) == limit:
            break
        taken[state] += 1
        gate = run.pending_gate
        if gate is not None and gate.request is not None and filters.admit(run, gate):
            items.append(request_item(run, gate, catalog))
        if taken[state] == len(pages[state]) and read[state] == limit:
            break  # this index may hold runs that come before the other's next one
    more = False
    for state in pages:
        index = _STATES.index(state)
        done = taken[state] == len(pages[state])
        offsets[index] += read[state] if done else taken[state]
        more = more or not done or read[state] == limit
    mark = "o" if filters.oldest_first else ""
    return Page(items, f"{offsets[0]}.{offsets[1]}{mark}" if more else None, unreadable)


def request_item(run: RunRecord, gate: Gate, catalog: Catalog) -> dict[str, Any]:
    """A pending request as the inbox lists it."""
    asked = pending(gate)
    earlier = gate.outputs[:-1] if asked["kind"] == RequestKind.review.value else gate.outputs
    return {
        "run_id": run.run_id,
        "request_id": asked["request_id"],
        "workflow": run.workflow,
        "step": gate.name,
        "step_name": catalog.step_name(run, gate),
        "kind": asked["kind"],
        "message": catalog.message(run, gate),
        "output": asked.get("output"),
        "previous_output": earlier[-1] if earlier else None,
        "feedback": list(gate.feedback),
        "error": asked.get("error"),
        "fields": asked.get("fields"),
        "choices": asked.get("choices"),
        "multiple": asked.get("multiple", False),
        "iteration": gate.iteration,
        "max_iterations": gate.max_iterations,
        "asked_at": asked["asked_at"],
        "deadline": asked["deadline"],
        "assignees": list(gate.policy.assignees),
        "candidate_groups": list(gate.policy.candidate_groups),
        "run_version": run.version,
    }


def run_view(run: RunRecord, catalog: Catalog) -> dict[str, Any]:
    """A run as a reviewer reads it: where it stands, what it asks, every decision."""
    gate = run.pending_gate
    finished = run.status is RunStatus.completed and run.results
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "status": run.status.value,
        "state": run_state(run),
        "step": run.cursor,
        "version": run.version,
        "created_at": when(run.created_at),
        "updated_at": when(run.updated_at),
        "input": run.input,
        "result": run.results[-1].content if finished else None,
        "error": run.error,
        "traceback": run.traceback,
        "gates": [
            {
                "step": each.name,
                "step_name": catalog.step_name(run, each),
                "state": each.state.value,
                "iteration": each.iteration,
                "max_iterations": each.max_iterations,
                "feedback": list(each.feedback),
            }
            for each in run.gates
        ],
        "pending": None
        if gate is None or gate.request is None
        else request_item(run, gate, catalog),
        "decisions": [decision(answer) for answer in run.answers],
        "notices": [notice(each) for each in run.outbox],
        "history": [
            {
                "version": each.version,
                "at": when(each.at),
                "step": each.name,
                "event": each.event,
                "state": each.state,
                "decision_id": each.decision_id,
            }
            for each in run.history
        ],
    }


@attrs.frozen
class Choice:
    """A decision as a reviewer sent it, checked for shape (the store checks the rest)."""

    request_id: str
    verdict: Verdict
    feedback: str | None = None
    value: JSON = None
    decision_id: str | None = None


_KEYS = {"request_id", "decision", "feedback", "value", "decision_id"}


def parse_decision(body: object) -> Choice:
    """A decision from a JSON body: ``request_id``, ``decision`` (a `Verdict`'s value, or
    ``input`` / ``route``), and as it needs ``feedback``, ``value``, ``decision_id``.

    Raises:
        InvalidArgument: not an object, unknown or missing keys, values of the wrong type.
    """
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise InvalidArgument(f"unknown keys: {', '.join(map(shorten, unknown))}")
    request_id, name = body.get("request_id"), body.get("decision")
    if type(request_id) is not str or not request_id:
        raise InvalidArgument("request_id must be the pending request's id")
    names = [*ALIASES, *(each.value for each in Verdict)]
    if type(name) is not str or (name not in ALIASES and name not in Verdict.__members__):
        raise InvalidArgument(f"decision must be one of {', '.join(names)}, not {shorten(name)}")
    verdict = ALIASES.get(name) or Verdict(name)
    for key in ("feedback", "decision_id"):
        if body.get(key) is not None and type(body[key]) is not str:
            raise InvalidArgument(f"{key} must be a string or null")
    value = body.get("value")
    if verdict is Verdict.select and isinstance(value, str):
        value = [value]  # one route, named alone
    return Choice(request_id, verdict, body.get("feedback"), value, body.get("decision_id"))


Authorize = Callable[[str, RunRecord, Gate], str | None]
"""Whether `actor` may decide the gate's pending request: None if so, else why not."""


def hooked(catalog: Catalog) -> Authorize:
    """The refusal the `authorize` hooks of the served workflows make."""
    from statemachine.runtime.handles import RunOutput
    from statemachine.runtime.requirements import check_actor

    def refuse(actor: str, run: RunRecord, gate: Gate) -> str | None:
        workflow = catalog.workflows.get(run.workflow)
        if workflow is None or workflow.authorize is None:
            return None
        requirements = RunOutput(run, workflow).requirements
        try:
            for requirement in requirements[:1]:
                check_actor(workflow, actor, requirement)
        except ActorRefused as refused:
            return refused.reason
        return None

    return refuse


def viewer(actor: str, run: RunRecord, gate: Gate) -> str:
    """The refusal of a user who may read and not decide."""
    return "a viewer decides nothing"


async def apply(
    store: Store,
    run_id: str,
    choice: Choice,
    actor: str,
    refusals: Sequence[Authorize] = (),
    via: str = "api",
    groups: Sequence[str] = (),
) -> DecisionResult:
    """Record `choice` on the run, by `actor`, if every refusal lets them.

    Raises:
        ActorRefused: a refusal said no; nothing was written.
        DecisionRefused, RunNotFound, InvalidArgument: as `Store.decide`.
    """
    run = await store.aload(run_id)  # as stored: a passed deadline is the decision's to find
    gate = run.pending_gate
    if (
        gate is not None
        and gate.request is not None
        and gate.request.request_id == choice.request_id
    ):
        for refusal in refusals:
            reason = refusal(actor, run, gate)
            if reason is not None:
                raise ActorRefused(choice.request_id, actor, reason)
    return await store.adecide(
        run_id, choice.request_id, choice.verdict, choice.feedback,
        decision_id=choice.decision_id, value=choice.value, by=actor, seen=run, via=via,
        groups=tuple(groups),
    )  # fmt: skip
