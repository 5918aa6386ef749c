"""Recording a human decision on a run: checked once for every store, idempotent by its id.

A decision answers the run's pending request: a confirmation, a rejection (with feedback),
values for an input request, routes for a route request, an edited output for a review, or,
for a failed step, a retry or a skip. It is recorded when the store writes it, by the store's
clock, and kept in the run's `answers` for the life of the run, with who decided and what
they said, so that the same decision sent again answers `duplicate` however far the run
moved on, and one that differs is refused.
"""

from __future__ import annotations

import enum
import json
import operator
from collections.abc import Collection
from datetime import datetime, timedelta

import attrs

from statemachine.core.errors import InvalidArgument, shorten
from statemachine.core.events import (
    JSON,
    Confirm,
    Decision,
    Edit,
    Provide,
    Reject,
    Retry,
    Select,
    Skip,
    json_problem,
)
from statemachine.core.record import Answer, Gate, RunRecord
from statemachine.core.refusals import (
    ActorRefused,
    DeadlinePassed,
    DecisionConflict,
    StaleRequest,
)
from statemachine.core.runs import apply_event

__all__ = [
    "DecisionResult",
    "Outcome",
    "Verdict",
    "check_decision",
    "decide",
    "digest_of",
]


class Verdict(enum.StrEnum):
    """A human's decision on a pending request."""

    confirm = "confirm"
    reject = "reject"
    provide = "provide"
    """Values for a user input request (`value`: a dict)."""
    select = "select"
    """Routes for a route request (`value`: a list of names)."""
    edit = "edit"
    """An edited output, accepted (`value`: the output)."""
    retry = "retry"
    """Run a failed step again."""
    skip = "skip"
    """Skip a failed step."""


class Outcome(enum.Enum):
    """What recording a decision did. A decision that cannot be recorded raises instead (a
    `DecisionRefused`: stale, past its deadline, or conflicting with an earlier one)."""

    applied = "applied"
    """The decision was recorded and the gate moved on."""
    duplicate = "duplicate"
    """This decision (by its id) was recorded before; nothing changed."""


@attrs.frozen
class DecisionResult:
    """The answer to `decide`: the outcome and the run as it now stands."""

    outcome: Outcome
    run: RunRecord


_MAX_ID = 200
_DECISION_ID = operator.attrgetter("decision_id")
_CARRIES_VALUE = frozenset({Verdict.provide, Verdict.select, Verdict.edit})


def check_decision(
    request_id: object,
    verdict: object,
    feedback: object,
    decision_id: object,
    value: JSON = None,
    by: object = None,
    groups: object = (),
    via: object = None,
) -> Verdict:
    """Refuse a decision's arguments of the wrong type or shape, before anything is read or
    written: every store goes through here, so they all refuse the same things.

    Raises:
        InvalidArgument: which argument, and why.
    """
    try:
        checked = verdict if type(verdict) is Verdict else Verdict(verdict)  # type: ignore[arg-type]
    except ValueError:
        allowed = ", ".join(repr(each.value) for each in Verdict)
        raise InvalidArgument(
            f"decision must be one of {allowed}, not {shorten(verdict)}"
        ) from None
    no_groups = type(groups) is tuple and not groups  # the usual case: nothing to check
    if not no_groups and (
        not isinstance(groups, (list, tuple, frozenset, set))
        or not all(type(group) is str and group for group in groups)
    ):
        raise InvalidArgument(f"groups must be a list of group names, not {shorten(groups)}")
    named = (("request_id", request_id), ("decision_id", decision_id), ("by", by), ("via", via))
    for name, text in named:
        if text is None:
            continue
        if type(text) is not str or not 0 < len(text) <= _MAX_ID or not text.isprintable():
            raise InvalidArgument(
                f"{name} must be None or a printable string of 1 to {_MAX_ID} characters, "
                f"not {shorten(text)}"
            )
    if feedback is not None:
        if type(feedback) is not str:
            raise InvalidArgument(f"feedback must be a string or None, not {shorten(feedback)}")
        try:
            feedback.encode()
        except UnicodeEncodeError:
            raise InvalidArgument("feedback holds a lone surrogate: it is not valid text") from None
    if checked in _CARRIES_VALUE:
        if problem := json_problem(value, "value"):
            raise InvalidArgument(problem)
        if checked is Verdict.provide and type(value) is not dict:
            raise InvalidArgument(f"provide needs a dict of values, not {shorten(value)}")
        if checked is Verdict.select and not (
            type(value) is str or (type(value) is list and all(type(name) is str for name in value))
        ):
            raise InvalidArgument(f"select needs route names, not {shorten(value)}")
    elif value is not None:
        raise InvalidArgument(f"a {checked.value} decision carries no value")
    return checked


def digest_of(value: JSON) -> str | None:
    """What a decision's record keeps to tell a retry from another decision: a digest of
    what it carried (feedback, values, routes, an edit), or None when it carried nothing."""
    if value is None:
        return None
    import hashlib  # here: only decisions need it, and it costs import time

    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _event(verdict: Verdict, carried: JSON, request_id: str, at: datetime) -> Decision:
    if verdict is Verdict.confirm:
        return Confirm(request_id=request_id, decided_at=at)
    if verdict is Verdict.reject:
        return Reject(carried, request_id=request_id, decided_at=at)
    if verdict is Verdict.provide:
        return Provide(values=carried, request_id=request_id, decided_at=at)
    if verdict is Verdict.select:
        return Select(choices=carried, request_id=request_id, decided_at=at)
    if verdict is Verdict.edit:
        return Edit(output=carried, request_id=request_id, decided_at=at)
    if verdict is Verdict.retry:
        return Retry(request_id=request_id, decided_at=at)
    return Skip(request_id=request_id, decided_at=at)


def decide(
    run: RunRecord,
    request_id: str | None,
    verdict: Verdict,
    *,
    feedback: str | None = None,
    value: JSON = None,
    decision_id: str,
    decided_at: datetime | None = None,
    by: str | None = None,
    groups: Collection[str] = (),
    via: str | None = None,
    now: datetime,
) -> DecisionResult:
    """Record a human decision on the request `request_id` (None: the pending one).

    The rule for time: `now` is when the decision is recorded, and decides. Recorded at or
    before the deadline, the decision wins over any timeout; after it, it is refused. The
    caller's `decided_at`, when given, is what the history shows (it must fall between the
    request's creation and `now`).

    Args:
        feedback: a rejection's feedback.
        value: what a `provide`, `select` or `edit` decision carries.
        by: who decided, kept with the answer; checked against the request's assignees and
            candidate groups (`groups`: the groups `by` is in) and `forbid_self_approval`.
        via: how the decision came (``web``, ``api``, ``link``, ``cli``...), kept with it.

    Returns:
        `applied` with the new run, or `duplicate` (this decision id was recorded before with
        the same request, verdict and content) with the run unchanged.

    Raises:
        DecisionConflict: the decision id was recorded for another decision.
        DeadlinePassed: recorded after the deadline; apply `expire` to store the timeout.
        StaleRequest: the request is not pending (decided, timed out... or unknown), or no
            request is, when `request_id` is None.
        WrongDecision, InvalidInput, InvalidSelection: the decision does not fit the request.
        ActorRefused: `by` may not decide this request.
        InvalidArgument: `decided_at` is before the request was made.
    """
    carried = feedback if verdict is Verdict.reject else value
    if verdict is Verdict.select and isinstance(carried, str):
        carried = [carried]
    earlier = run.answer(decision_id=decision_id)
    if earlier is not None:
        if request_id is not None and request_id != earlier.request_id:
            raise DecisionConflict(decision_id, earlier.request_id, "another request")
        if earlier.how != verdict.value:
            raise DecisionConflict(decision_id, earlier.request_id, "another verdict")
        # Answers kept the content's digest before they kept the content.
        recorded = earlier.digest if earlier.digest is not None else digest_of(earlier.value)
        if recorded != digest_of(carried):
            what = "other feedback" if verdict is Verdict.reject else "other content"
            raise DecisionConflict(decision_id, earlier.request_id, what)
        return DecisionResult(Outcome.duplicate, run)
    if decision_id in map(_DECISION_ID, run.history):  # the scan in C: a history is long
        return DecisionResult(Outcome.duplicate, run)  # recorded before answers were kept
    gate = run.pending_gate
    pending = None if gate is None else gate.request
    if request_id is None and pending is not None:
        request_id = pending.request_id
    if gate is None or pending is None or pending.request_id != request_id:
        raise _not_pending(run, request_id, None if pending is None else pending.request_id, now)
    if pending.deadline is not None and now > pending.deadline:
        raise DeadlinePassed(pending.request_id, pending.deadline, now)
    if (refusal := actor_refusal(run, gate, verdict, by, groups, now)) is not None:
        raise ActorRefused(pending.request_id, by, refusal)
    if (
        decided_at is not None
        and pending.created_at is not None
        and decided_at < pending.created_at
    ):
        raise InvalidArgument(
            f"decided_at {decided_at.isoformat()} is before request {shorten(request_id)} was "
            f"made, at {pending.created_at.isoformat()}"
        )
    at = now if decided_at is None else min(decided_at, now)
    event = _event(verdict, carried, pending.request_id, at)
    answer = Answer(
        pending.request_id, verdict.value, decision_id, None, None, by, at, carried, via
    )
    new, _ = apply_event(run, gate, event, now, decision_id=decision_id, answered=answer)
    return DecisionResult(Outcome.applied, new)


_APPROVALS = frozenset({Verdict.confirm, Verdict.edit})


def assignees(gate: Gate, now: datetime) -> tuple[str, ...]:
    """Who may decide the gate's request at `now`: its assignees, and once it is escalated
    (`escalate_after` from when it was made), `escalate_to` too."""
    policy, request = gate.policy, gate.request
    if (
        policy.escalate_after is not None
        and request is not None
        and request.created_at is not None
        and now >= request.created_at + timedelta(seconds=policy.escalate_after)
    ):
        return (*policy.assignees, *policy.escalate_to)
    return policy.assignees


def actor_refusal(
    run: RunRecord,
    gate: Gate,
    verdict: Verdict,
    by: str | None,
    groups: Collection[str],
    now: datetime,
) -> str | None:
    """Why `by` (in `groups`) may not make this decision on `gate`'s request at `now`, or None.

    A decision that names no actor comes from code the application trusts: it is not checked.
    """
    policy = gate.policy
    if by is None:
        return None
    allowed = assignees(gate, now)
    restricted = allowed or policy.candidate_groups
    if restricted and by not in allowed and not set(groups) & set(policy.candidate_groups):
        return "not an assignee, nor in a candidate group"
    if policy.forbid_self_approval and verdict in _APPROVALS and by == run.user_id:
        return "the run's own starter may not approve it (forbid_self_approval)"
    return None


def _not_pending(
    run: RunRecord, request_id: str | None, pending_id: str | None, now: datetime
) -> StaleRequest | DeadlinePassed:
    ended = None if request_id is None else run.answer(request_id=request_id)
    if ended is None:
        return StaleRequest(request_id, pending_id)
    if ended.how == "timeout" and ended.deadline is not None:
        return DeadlinePassed(ended.request_id, ended.deadline, now)
    reasons = {"cancel": "the run was cancelled while it waited"}
    return StaleRequest(
        request_id, pending_id, reasons.get(ended.how, f"it was decided already ({ended.how})")
    )
