"""Notifications when a run pauses: `on_pause` hooks (any callable, or the built-in
`Webhook`), and their delivery from the run's outbox.

The driver adds a notice per hook to the write that stores a pause (`core.runs.notify`); the
process that continued the run delivers it right after, and workers' sweeps deliver what is
still due (a failed delivery is tried again after a backoff). Each delivery is recorded in
the run (`core.runs.sent`). A hook that raises, hangs up to its timeout, or points at a dead
endpoint changes nothing else: the run has paused already, and waits for its decision.
"""

from __future__ import annotations

import logging
from collections.abc import (
    AsyncGenerator,
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from statemachine.core.decisions import assignees
from statemachine.core.errors import DefinitionError
from statemachine.core.events import JSON
from statemachine.core.outbox import Notice
from statemachine.core.record import RunRecord
from statemachine.core.runs import sent
from statemachine.store.telemetry import active

if TYPE_CHECKING:
    from statemachine.runtime.shells import Done
    from statemachine.runtime.stream import WorkflowEvent
    from statemachine.runtime.workflow import Workflow
    from statemachine.store.protocol import Store

__all__ = ["PauseNotice", "Webhook", "deliver", "deliver_due", "hook_name"]

log = logging.getLogger("statemachine.hooks")
SIGNATURE = "X-Statemachine-Signature"
MOOT = "the request was answered before it was sent"


@attrs.frozen
class PauseNotice:
    """What a hook is told about a pause.

    Attributes:
        idempotency_key: one per run, request, hook and event: a receiver that sees it twice
            (a retry after a lost answer) knows it is the same notice.
        deadline: when the request times out (None: it waits for ever).
        output: the output under review, for a review.
    """

    run_id: str
    workflow: str
    request_id: str
    step_name: str
    kind: str
    message: str | None
    deadline: datetime | None
    event: str
    idempotency_key: str
    output: JSON = None
    assignees: tuple[str, ...] = ()
    """Who may decide now (an escalation adds its `escalate_to`); empty: anyone."""
    links: Mapping[str, str] = attrs.field(factory=dict)
    """Decision links, by name, when the hook makes them (a `Webhook` given ``links``)."""

    def as_json(self) -> dict[str, JSON]:
        data = attrs.asdict(self)
        data["deadline"] = None if self.deadline is None else self.deadline.isoformat()
        data["assignees"] = list(self.assignees)
        data["links"] = dict(self.links)
        return data


class Webhook:
    """POST each notice as JSON to `url`, with an ``Idempotency-Key`` header and, given a
    `secret`, an HMAC-SHA256 signature of the body (``X-Statemachine-Signature:
    sha256=<hex>``) the receiver checks with the same secret. A reply other than 2xx, or none
    within `timeout` seconds, is a failed delivery, tried again later.

    Args:
        steps: only pauses of these steps (names or keys); None: every pause.
        links: ``links(run) -> {name: url}``, decision links put in each notice (the inbox's
            `statemachine.web.links.decision_links` makes signed, single-use ones).
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes | None = None,
        name: str = "webhook",
        timeout: float = 5.0,
        steps: Collection[str] | None = None,
        links: Callable[[RunRecord], Mapping[str, str]] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise DefinitionError(f"Webhook: url must be http:// or https://, not {url!r}")
        self.url, self.name, self.timeout = url, name, timeout
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.steps = None if steps is None else frozenset(steps)
        self.links = links

    def __repr__(self) -> str:
        return f"Webhook({self.url!r}, name={self.name!r})"

    def __call__(self, notice: PauseNotice) -> None:
        import hashlib  # here, not at import: `import statemachine` stays light
        import hmac
        import json
        import urllib.request

        body = json.dumps(notice.as_json(), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": notice.idempotency_key}
        if self.secret is not None:
            digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE] = f"sha256={digest}"
        request = urllib.request.Request(self.url, body, headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as reply:
            reply.read()


def hook_name(hook: Callable[..., Any]) -> str:
    """The name notices give `hook`: its `name` attribute, else its function name."""
    name = getattr(hook, "name", None) or getattr(hook, "__name__", None)
    if not isinstance(name, str) or not name or not callable(hook):
        raise DefinitionError(f"on_pause: {hook!r} is not a named callable")
    return name


def registry(hooks: Iterable[Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The hooks by name, checked."""
    found: dict[str, Callable[..., Any]] = {}
    for hook in hooks:
        name = hook_name(hook)
        if name in found:
            raise DefinitionError(f"on_pause: two hooks are named {name!r} (give each a name)")
        found[name] = hook
    return found


def plan(hooks: dict[str, Callable[..., Any]]) -> tuple[tuple[str, frozenset[str] | None], ...]:
    """What the driver needs: each hook's name, and the steps it is for (None: all)."""
    return tuple((name, getattr(hook, "steps", None)) for name, hook in hooks.items())


def _notice(
    run: RunRecord, notice: Notice, workflow: Workflow, now: datetime
) -> PauseNotice | None:
    """What the hook is told, or None when the request is no longer pending."""
    from statemachine.runtime.requirements import message_of

    gate = run.pending_gate
    if gate is None or gate.request is None or gate.request.request_id != notice.request_id:
        return None
    definition = workflow.definition
    output = gate.outputs[-1] if gate.request.kind.value == "review" and gate.outputs else None
    return PauseNotice(
        run.run_id, run.workflow, notice.request_id, definition.name_of(gate.name),
        gate.request.kind.value, message_of(gate, definition.kind_name(gate.name),
                                            definition.name_of(gate.name)),
        gate.request.deadline, notice.event, notice.key(run.run_id), output,
        assignees(gate, now),
    )  # fmt: skip


def _linked(hook: Any, told: PauseNotice, run: RunRecord) -> PauseNotice:
    """The notice with the hook's decision links, if it makes some (none if that fails)."""
    make = getattr(hook, "links", None)
    if not callable(make):
        return told
    try:
        return attrs.evolve(told, links=dict(make(run)))
    except Exception as exc:  # a notice without links beats no notice
        log.warning("hook %s: no decision links for run %s: %s", hook, run.run_id, exc)
        return told


def delivering(
    workflow: Workflow, executed: Generator[WorkflowEvent, None, RunRecord]
) -> Generator[WorkflowEvent, None, RunRecord]:
    """An execution, then the notices of the pause it stored (its lease let go)."""
    run = yield from executed
    return deliver(workflow, run) if run.outbox else run


async def adelivering(
    workflow: Workflow, execution: AsyncGenerator[WorkflowEvent | Done, None]
) -> AsyncGenerator[WorkflowEvent | Done, None]:
    """`delivering`, for an asynchronous execution (its last item, `Done`, carries the run)."""
    from contextlib import aclosing

    from statemachine.runtime.shells import Done

    async with aclosing(execution):
        async for item in execution:
            if isinstance(item, Done) and item.run.outbox:
                item = Done(await adeliver(workflow, item.run))
            yield item


def due(run: RunRecord, now: datetime) -> list[Notice]:
    return [notice for notice in run.outbox if notice.is_due(now)]


def _sends(
    workflow: Workflow, run: RunRecord, now: datetime
) -> Iterator[tuple[Notice, PauseNotice | None, Callable[..., Any] | None]]:
    """Each notice due: what its hook is told (None: its request was answered first), and the
    hook (None for an escalation's own record, which no hook sends)."""
    for notice in due(run, now):
        hook = workflow.hooks.get(notice.hook)
        if hook is None and notice.hook:
            continue  # a hook this definition no longer has: a worker that has it sends it
        told = _notice(run, notice, workflow, now)
        yield notice, told if told is None or hook is None else _linked(hook, told, run), hook


def _failure(notice: Notice, run: RunRecord, exc: Exception) -> str:
    """A hook's failure, logged, as the notice records it (it is never raised)."""
    error = f"{type(exc).__name__}: {exc}"
    log.warning("hook %s failed for run %s: %s", notice.hook, run.run_id, error)
    return error


def deliver(workflow: Workflow, run: RunRecord) -> RunRecord:
    """Send the run's due notices with `workflow`'s hooks and record each outcome (an
    escalation's own record is written when due); never raises for a hook's failure. Returns
    the run as it then stands."""
    store, now = workflow.store, workflow.now()
    for notice, told, hook in _sends(workflow, run, now):
        error = MOOT if told is None else None
        if told is not None and hook is not None:
            try:
                hook(told)
            except Exception as exc:
                error = _failure(notice, run, exc)
        run = _record(store, run, notice, error, told is None, now)
    return run


async def adeliver(workflow: Workflow, run: RunRecord) -> RunRecord:
    """`deliver`, awaited: coroutine hooks are awaited, others run in a thread."""
    import asyncio
    import inspect

    store, now = workflow.store, await workflow.anow()
    for notice, told, hook in _sends(workflow, run, now):
        error = MOOT if told is None else None
        if told is not None and hook is not None:
            try:
                if inspect.iscoroutinefunction(hook):
                    await hook(told)
                else:
                    await asyncio.to_thread(hook, told)
            except Exception as exc:
                error = _failure(notice, run, exc)
        run = await asyncio.to_thread(_record, store, run, notice, error, told is None, now)
    return run


def _record(
    store: Store, run: RunRecord, notice: Notice, error: str | None, moot: bool, now: datetime
) -> RunRecord:
    metered = active()
    if metered is not None and not moot:
        outcome = "delivered" if error is None else "failed"
        metered.notices.add(1, {"event": notice.event, "outcome": outcome})

    def change(stored: RunRecord) -> RunRecord | None:
        return sent(stored, notice, now, error, give_up=moot)

    try:
        return store.update(run.run_id, change)
    except Exception as exc:  # the outcome is lost: the notice stays due, sent again later
        log.warning("could not record hook %s for run %s: %s", notice.hook, run.run_id, exc)
        return run


def deliver_due(
    workflows: Iterable[Workflow], store: Store, limit: int = 1000, now: datetime | None = None
) -> int:
    """Deliver the notices due in paused runs of `workflows` (a worker's sweep): how many
    runs had some. Reads at most `limit` paused runs of each kind."""
    served = {workflow.name: workflow for workflow in workflows if workflow.notifies}
    if not served:
        return 0
    delivered = 0
    now = store.now() if now is None else now
    for state in ("awaiting_confirmation", "awaiting_review"):
        for run in store.page(state, limit=limit):
            workflow = served.get(run.workflow)
            if workflow is not None and due(run, now):
                deliver(workflow, run)
                delivered += 1
    return delivered
