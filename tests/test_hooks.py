"""Notifications when a run pauses: a hook is owed a notice in the same write as the pause,
told once after it is stored, and a failing or dead one never holds up the run; the
built-in webhook posts signed JSON to a real HTTP server; workers' sweeps retry what failed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest

from statemachine import HumanReview, OnReject, Step, Store, Worker, Workflow
from statemachine.runtime.hooks import PauseNotice, Webhook, deliver_due
from statemachine.testing import VirtualClock


def write(step_input: Any) -> str:
    return "Dear team,\nthe numbers are in."


def memo(store: Store, hooks: list[Any], clock: Any = None, **review: Any) -> Workflow:
    policy = HumanReview(requires_output_review=True, on_reject=OnReject.retry, **review)
    return Workflow("memo", [Step(name="write", executor=write, human_review=policy)], store,
                    clock=clock, on_pause=hooks)  # fmt: skip


class Told:
    """A hook that keeps what it is told, failing the first `failures` times."""

    def __init__(self, failures: int = 0, name: str = "told") -> None:
        self.notices: list[PauseNotice] = []
        self.failures, self.name = failures, name

    def __call__(self, notice: PauseNotice) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the endpoint is down")
        self.notices.append(notice)


def test_a_pause_is_stored_owing_a_notice_and_told_once(store: Store) -> None:
    told = Told()
    workflow = memo(store, [told], timeout=3600)
    paused = workflow.run("notes")
    [notice] = told.notices
    assert (notice.run_id, notice.workflow, notice.step_name, notice.kind) == (
        paused.run_id, "memo", "write", "review",
    )  # fmt: skip
    assert notice.output == "Dear team,\nthe numbers are in."
    assert notice.deadline is not None
    assert notice.idempotency_key == f"{paused.run_id}:{notice.request_id}:told:paused"
    stored = store.load(paused.run_id)
    [owed] = stored.outbox
    assert (owed.status, owed.attempts) == ("delivered", 1)
    assert stored.history[-1].event == "notified"
    assert stored.status.value == "paused"
    # Sent again by a sweep? No: it is settled.
    assert deliver_due([workflow], store) == 0
    assert len(told.notices) == 1
    # The next pause owes a notice of its own.
    store.decide(paused.run_id, None, "reject", "shorter")
    workflow.continue_run(paused.run_id)
    assert len(told.notices) == 2
    assert told.notices[1].request_id != notice.request_id


def test_a_failing_hook_holds_nothing_up_and_is_retried_by_a_sweep(store: Store) -> None:
    clock = VirtualClock()
    told = Told(failures=1)
    workflow = memo(store, [told], clock=clock)
    paused = workflow.run("notes")
    assert paused.status.value == "paused"  # the run paused whatever the hook did
    [owed] = store.load(paused.run_id).outbox
    assert (owed.status, owed.attempts, owed.error) == (
        "pending", 1, "ConnectionError: the endpoint is down",
    )  # fmt: skip
    assert owed.due == clock() + timedelta(seconds=10)
    assert deliver_due([workflow], store, now=clock()) == 0  # not due yet
    clock.advance(11)
    assert deliver_due([workflow], store, now=clock()) == 1
    assert len(told.notices) == 1
    [owed] = store.load(paused.run_id).outbox
    assert owed.status == "delivered"
    events = [entry.event for entry in store.load(paused.run_id).history if entry.name == ""]
    assert events == ["notice-failed", "notified"]


def test_a_notice_about_a_request_answered_first_is_not_sent(store: Store) -> None:
    told = Told()
    workflow = memo(store, [told])
    run_id = workflow.submit("notes")
    Worker([workflow], store).work_once()  # a worker pauses it; its sweep delivers later
    store.decide(run_id, None, "confirm")
    assert deliver_due([workflow], store) == 0  # no longer paused: not in the sweep's pages
    from statemachine.runtime.hooks import deliver

    deliver(workflow, store.load(run_id))
    assert told.notices == []
    [owed] = store.load(run_id).outbox
    assert owed.status == "failed"
    assert owed.error == "the request was answered before it was sent"


def test_a_worker_sweep_tells_the_hooks_of_the_runs_it_paused(store: Store) -> None:
    told = Told()
    workflow = memo(store, [told])
    run_id = workflow.submit("notes")
    worker = Worker([workflow], store)
    worker.work_once()
    assert told.notices == []
    worker.sweep()
    assert [notice.run_id for notice in told.notices] == [run_id]
    assert worker.counts["notified"] == 1


def test_hooks_are_named_once_and_limited_to_their_steps(store: Store) -> None:
    from statemachine import DefinitionError

    with pytest.raises(DefinitionError, match="two hooks are named 'told'"):
        memo(store, [Told(), Told()])
    elsewhere = Told(name="elsewhere")
    elsewhere.steps = frozenset({"another"})  # type: ignore[attr-defined]
    mine = Told(name="mine")
    mine.steps = frozenset({"write"})  # type: ignore[attr-defined]
    paused = memo(store, [elsewhere, mine]).run("notes")
    assert (len(elsewhere.notices), len(mine.notices)) == (0, 1)
    assert [notice.hook for notice in store.load(paused.run_id).outbox] == ["mine"]


class Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_the_webhook_posts_signed_json(store: Store, receiver: str) -> None:
    paused = memo(store, [Webhook(receiver, secret="s3cret")]).run("notes")
    [(headers, body)] = Receiver.received
    sent = json.loads(body)
    assert (sent["run_id"], sent["kind"], sent["event"]) == (paused.run_id, "review", "paused")
    assert headers["Idempotency-Key"] == sent["idempotency_key"]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Statemachine-Signature"] == f"sha256={expected}"
    assert store.load(paused.run_id).outbox[0].status == "delivered"


def test_a_dead_endpoint_is_a_failed_delivery_not_a_failed_run(store: Store) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed when the block ends: nothing listens there
    paused = memo(store, [Webhook(f"http://127.0.0.1:{port}/", timeout=2)]).run("notes")
    assert paused.status.value == "paused"
    [owed] = store.load(paused.run_id).outbox
    assert owed.status == "pending"
    assert owed.error is not None
    assert "URLError" in owed.error


def test_a_coroutine_hook_is_awaited_under_the_asyncio_api(store: Store) -> None:
    seen: list[str] = []

    async def announce(notice: PauseNotice) -> None:
        seen.append(notice.request_id)

    async def main() -> str:
        try:
            paused = await memo(store, [announce]).arun("notes")
        finally:
            await store.aclose()  # this event loop's connections
        return paused.run_id

    run_id = asyncio.run(main())
    [owed] = store.load(run_id).outbox
    assert seen == [owed.request_id]
    assert owed.status == "delivered"


def test_show_says_how_each_notice_stands(store: Store) -> None:
    from statemachine.cli.show import _sent

    clock = VirtualClock()
    workflow = memo(store, [Told(failures=10)], clock=clock)
    paused = workflow.run("notes")
    [owed] = store.load(paused.run_id).outbox
    assert _sent(owed).startswith("pending, next at 2030-01-01T00:00:10+00:00 (1 attempt; last: ")


def test_the_outbox_gives_up_keeps_its_bound_and_owes_each_notice_once() -> None:
    from statemachine import RunRecord, RunStatus
    from statemachine.core.outbox import MAX_ATTEMPTS, MAX_NOTICES, Notice
    from statemachine.core.runs import notify, sent
    from statemachine.testing.harness import START

    run = RunRecord(run_id="r" * 32, workflow="w", fingerprint="f", status=RunStatus.paused,
                    input=None, cursor="s", created_at=START, updated_at=START)  # fmt: skip
    owing = notify(run, ["mail", "chat"], "s:review:1", START)
    assert notify(owing, ["mail"], "s:review:1", START) is owing  # owed already
    notice = owing.outbox[0]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        failed = sent(owing, notice, START, "down")
        assert failed is not None
        owing = failed
        assert owing.outbox[0].attempts == attempt
    assert owing.outbox[0].status == "failed"  # given up: no longer due
    assert sent(owing, notice, START, "down") is None  # nothing owed any more
    many = owing
    for n in range(MAX_NOTICES + 5):
        many = notify(many, ["mail"], f"s:review:{n + 2}", START)
    assert len(many.outbox) == MAX_NOTICES
    assert Notice("mail", "s:review:1") not in many.outbox  # the settled one made way
    assert many.outbox[-1].request_id == f"s:review:{MAX_NOTICES + 6}"


def test_a_reminder_comes_once_if_the_request_is_still_pending(store: Store) -> None:
    from statemachine.testing import Harness

    told = Told()
    harness = Harness(memo(store, [told], remind_after=600), store)
    harness.run("notes")
    harness.advance(599)
    assert [notice.event for notice in told.notices] == ["paused"]
    harness.advance(2)
    assert [notice.event for notice in told.notices] == ["paused", "reminder"]
    harness.advance(3600)
    assert len(told.notices) == 2  # once
    harness.reject("again")  # the next request: its own pause, its own reminder
    harness.confirm()  # decided before its reminder was due
    harness.advance(601)
    assert [notice.event for notice in told.notices] == ["paused", "reminder", "paused"]


def test_an_escalation_lets_escalate_to_decide_and_is_recorded(store: Store) -> None:
    from statemachine import ActorRefused, DefinitionError
    from statemachine.testing import Harness

    told = Told()
    workflow = memo(store, [told], assignees=["alice"], escalate_after=3600,
                    escalate_to=["boss"])  # fmt: skip
    harness = Harness(workflow, store)
    paused = harness.run("notes")
    with pytest.raises(ActorRefused):
        store.decide(paused.run_id, None, "confirm", by="boss", now=harness.clock())
    harness.advance(3601)
    escalated = [notice for notice in told.notices if notice.event == "escalated"]
    assert [notice.assignees for notice in escalated] == [("alice", "boss")]
    history = [entry.event for entry in store.load(paused.run_id).history if entry.name == ""]
    assert "escalated" in history
    store.decide(paused.run_id, None, "confirm", by="boss", now=harness.clock())
    with pytest.raises(DefinitionError, match="go together"):
        HumanReview(requires_confirmation=True, escalate_to=["boss"])


def test_an_escalation_applies_with_no_hook_at_all(store: Store) -> None:
    from statemachine.testing import Harness

    workflow = memo(store, [], assignees=["alice"], escalate_after=60, escalate_to=["boss"])
    harness = Harness(workflow, store)
    paused = harness.run("notes")
    assert workflow.notifies
    harness.advance(61)
    history = [entry.event for entry in store.load(paused.run_id).history if entry.name == ""]
    assert history == ["escalated"]
    assert store.decide(paused.run_id, None, "confirm", by="boss", now=harness.clock())
