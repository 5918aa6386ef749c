"""The inbox's JSON API over real HTTP, against a real uvicorn server on a free loopback port,
on the memory, file, SQLite and Redis stores: listings a page at a time, one run, decisions
recorded with their actor, and every refusal with its status, its typed body, and nothing
written."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from statemachine import RunRecord, Store, Workflow

from .web import TOKENS, VIEWER_TOKEN, Answer, WebServer, users
from .web_flows import confirmed, form, reviewed, routed

ALICE, BOB = list(TOKENS)


@pytest.fixture(params=["memory", "file", "sqlite", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(kind: str, make_store: Callable[..., Store]) -> Iterator[tuple[Store, WebServer]]:
    store = make_store(kind)
    server = WebServer(store, [reviewed(store), form(store), routed(store), confirmed(store)],
                       users=users())  # fmt: skip
    yield store, server
    server.stop()


def _decide(server: WebServer, run_id: str, *, token: str = ALICE, **body: object) -> Answer:
    return server.request("POST", f"/api/runs/{run_id}/decisions", body, token=token)


def _error(answer: Answer, status: int, kind: str) -> dict[str, object]:
    assert answer.status == status, answer.text
    error: dict[str, object] = answer.json()["error"]
    assert error["type"] == kind, error
    assert error["message"]
    return error


def _unchanged(store: Store, before: RunRecord) -> None:
    after = store.load(before.run_id)
    assert (after.version, after.answers) == (before.version, before.answers)


def test_pending_requests_are_listed_filtered_and_paged(served: tuple[Store, WebServer]) -> None:
    store, server = served
    drafts = reviewed(store)
    runs = [drafts.run(f"text {n}") for n in range(3)]
    asked = form(store).run("order")
    route = routed(store).run("x")
    gated = confirmed(store).run("go")
    listed = server.request("GET", "/api/requests", token=ALICE).json()
    assert listed["next_cursor"] is None
    ids = [item["run_id"] for item in listed["items"]]
    assert sorted(ids) == sorted([*(run.run_id for run in runs), asked.run_id, route.run_id,
                                  gated.run_id])  # fmt: skip
    item = next(item for item in listed["items"] if item["run_id"] == runs[0].run_id)
    assert item == item | {
        "request_id": "refine:review:1", "workflow": "drafts", "step_name": "refine",
        "kind": "review", "message": "Accept this draft?", "deadline": None, "assignees": [],
        "output": "Draft for text 0\nSecond line",
    }  # fmt: skip
    by_kind = server.request("GET", "/api/requests", token=ALICE, query={"kind": "input"})
    assert [item["run_id"] for item in by_kind.json()["items"]] == [asked.run_id]
    (fields,) = [item["fields"] for item in by_kind.json()["items"]]
    assert [field["name"] for field in fields] == ["count", "colour", "note"]
    by_workflow = server.request("GET", "/api/requests", token=ALICE,
                                 query={"workflow": "drafts"}).json()  # fmt: skip
    assert sorted(item["run_id"] for item in by_workflow["items"]) == sorted(r.run_id for r in runs)
    # A page at a time: every request once, in order, whatever the page size and the order.
    in_order = [*(run.run_id for run in runs), asked.run_id, route.run_id, gated.run_id]
    assert ids == in_order[::-1]  # most recently asked first
    for limit, order in itertools.product((1, 2, 4), ("newest", "oldest")):
        seen: list[str] = []
        cursor: str | None = ""
        while cursor is not None:
            query: dict[str, str | int] = {"limit": limit, "cursor": cursor, "order": order}
            page = server.request("GET", "/api/requests", token=ALICE, query=query).json()
            assert len(page["items"]) <= limit
            seen += [item["run_id"] for item in page["items"]]
            cursor = page["next_cursor"]
        assert seen == (in_order if order == "oldest" else in_order[::-1]), (limit, order)
    newest = server.request("GET", "/api/requests", token=ALICE, query={"limit": 1}).json()
    oldest = server.request("GET", "/api/requests", token=ALICE,
                            query={"limit": 1, "order": "oldest"}).json()  # fmt: skip
    # "²" passes str.isdigit(), and int() refuses it.
    for bad in ({"limit": 0}, {"limit": "many"}, {"limit": "\u00b2"}, {"cursor": "nope"},
                {"kind": "poem"}, {"order": "sideways"},
                {"cursor": newest["next_cursor"], "order": "oldest"},
                {"cursor": oldest["next_cursor"]}):  # fmt: skip
        _error(server.request("GET", "/api/requests", token=ALICE, query=bad), 400, "bad_request")


def test_a_decision_is_recorded_with_its_actor_and_a_retry_is_a_duplicate(
    served: tuple[Store, WebServer],
) -> None:
    store, server = served
    run = reviewed(store).run("text")
    body = {"request_id": "refine:review:1", "decision": "reject", "feedback": "shorter",
            "decision_id": "d-1"}  # fmt: skip
    answer = _decide(server, run.run_id, **body)
    assert answer.status == 200, answer.text
    assert answer.json()["outcome"] == "applied"
    assert _decide(server, run.run_id, **body).json()["outcome"] == "duplicate"
    shown = server.request("GET", f"/api/runs/{run.run_id}", token=BOB).json()
    assert shown["status"] == "pending"  # runnable: a worker runs the next iteration
    (decided,) = shown["decisions"]
    assert decided | {"by": "alice", "decision": "reject", "value": "shorter"} == decided
    assert store.get(run.run_id).answers[0].by == "alice"


@pytest.mark.parametrize(
    ("make", "body", "content"),
    [
        (form, {"decision": "input", "value": {"count": 2, "colour": "red"}},
         {"count": 2, "colour": "red"}),
        (routed, {"decision": "route", "value": "slow"}, "slow(x)"),
        (confirmed, {"decision": "confirm"}, "launch(x)"),
        (reviewed, {"decision": "edit", "value": "Better"}, "Better"),
    ],
)  # fmt: skip
def test_each_kind_is_decided_through_the_api(
    served: tuple[Store, WebServer],
    make: Callable[[Store], Workflow],
    body: dict[str, object],
    content: object,
) -> None:
    store, server = served
    workflow = make(store)
    run = workflow.run("x")
    request_id = store.load(run.run_id).pending_gate.request.request_id  # type: ignore[union-attr]
    answer = server.request("POST", f"/api/runs/{run.run_id}/decisions",
                            {"request_id": request_id, **body}, token=ALICE)  # fmt: skip
    assert answer.json()["outcome"] == "applied", answer.text
    assert workflow.continue_run(run.run_id).content == content


def test_every_refusal_has_its_status_and_type_and_writes_nothing(
    served: tuple[Store, WebServer],
) -> None:
    store, server = served
    run = reviewed(store).run("text")
    before = store.load(run.run_id)
    path = f"/api/runs/{run.run_id}/decisions"
    pending = "refine:review:1"
    asked = '"request_id": "refine:review:1"'
    deep = "[" * 5000 + "]" * 5000  # nested too deeply for the JSON parser (RecursionError)
    bodies = [b"{not json", b"[]", b'{"decision": "confirm"}',
              f'{{{asked}, "decision": "maybe"}}'.encode(),
              f'{{{asked}, "decision": "confirm", "extra": 1}}'.encode(),
              f'{{{asked}, "decision": "reject", "feedback": 3}}'.encode(),
              deep.encode(),
              f'{{{asked}, "decision": "edit", "value": {deep}}}'.encode()]  # fmt: skip
    for body in bodies:
        answer = server.request("POST", path, body, token=ALICE,
                                headers={"Content-Type": "application/json"})  # fmt: skip
        _error(answer, 400, "bad_request")
    wrong = _decide(server, run.run_id, request_id=pending, decision="input", value={"a": 1})
    assert _error(wrong, 400, "wrong_decision")["asked"]
    _error(server.request("POST", path, b"{}", token=ALICE, headers={"Content-Type": "text/plain"}),
           415, "unsupported_media_type")  # fmt: skip
    _error(_decide(server, run.run_id, token="not-a-token", request_id=pending, decision="confirm"),
           401, "unauthenticated")  # fmt: skip
    _error(server.request("GET", "/api/requests"), 401, "unauthenticated")
    viewer = _decide(server, run.run_id, token=VIEWER_TOKEN, request_id=pending, decision="confirm")
    assert _error(viewer, 403, "actor_refused")["actor"] == "carol"
    _error(_decide(server, "no-such-run", request_id=pending, decision="confirm"),
           404, "run_not_found")  # fmt: skip
    stale = _decide(server, run.run_id, request_id="refine:review:7", decision="confirm")
    assert _error(stale, 409, "stale_request")["pending_request_id"] == pending
    _unchanged(store, before)
    assert _decide(server, run.run_id, request_id=pending, decision="confirm",
                   decision_id="once").json()["outcome"] == "applied"  # fmt: skip
    after = store.load(run.run_id)
    conflict = _decide(server, run.run_id, request_id=pending, decision="reject",
                       decision_id="once")  # fmt: skip
    assert _error(conflict, 422, "decision_conflict")["decision_id"] == "once"
    _error(_decide(server, run.run_id, request_id=pending, decision="confirm"), 409,
           "stale_request")  # fmt: skip
    _unchanged(store, after)


def test_invalid_values_are_listed_and_nothing_is_written(served: tuple[Store, WebServer]) -> None:
    store, server = served
    run = form(store).run("x")
    before = store.load(run.run_id)
    answer = _decide(server, run.run_id, request_id=before.pending_gate.request.request_id,  # type: ignore[union-attr]
                     decision="input", value={"count": "two", "colour": "green"})  # fmt: skip
    problems = _error(answer, 400, "invalid_input")["problems"]
    assert len(problems) == 2, problems  # type: ignore[arg-type]
    _unchanged(store, before)


def test_a_decision_after_the_deadline_is_refused_and_the_timeout_applies(
    served: tuple[Store, WebServer],
) -> None:
    store, server = served
    past = datetime(2001, 1, 1, tzinfo=UTC)
    run = reviewed(store, clock=lambda: past, timeout=60).run("text")
    listed = server.request("GET", "/api/requests", token=ALICE).json()["items"]
    assert listed[0]["deadline"] == "2001-01-01T00:01:00+00:00"
    late = _decide(server, run.run_id, request_id="refine:review:1", decision="confirm")
    assert _error(late, 410, "deadline_passed")["deadline"] == "2001-01-01T00:01:00+00:00"
    (answer,) = store.load(run.run_id).answers
    assert (answer.how, answer.by) == ("timeout", None)  # the timeout's, never a human's


def _review(server: WebServer, run_id: str, start: threading.Barrier, answers: dict[str, Answer],
            token: str, verdict: str) -> None:  # fmt: skip
    start.wait(10)
    answers[verdict] = _decide(server, run_id, token=token, request_id="refine:review:1",
                               decision=verdict)  # fmt: skip


def test_two_reviewers_at_once_get_one_applied_and_one_conflict(
    served: tuple[Store, WebServer],
) -> None:
    store, server = served
    for attempt in range(5):
        run = reviewed(store).run(f"text {attempt}")
        start = threading.Barrier(2)
        answers: dict[str, Answer] = {}
        threads = [
            threading.Thread(target=_review, args=(server, run.run_id, start, answers, token,
                                                   verdict))
            for token, verdict in ((ALICE, "confirm"), (BOB, "reject"))
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(answer.status for answer in answers.values())
        assert statuses == [200, 409], [answer.text for answer in answers.values()]
        winner = next(verdict for verdict, answer in answers.items() if answer.status == 200)
        (recorded,) = store.load(run.run_id).answers
        assert (recorded.how, recorded.by) == (winner, "alice" if winner == "confirm" else "bob")


def test_the_schema_documents_every_route_of_the_api(served: tuple[Store, WebServer]) -> None:
    _, server = served
    schema = server.request("GET", "/api/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    paths = {"/api/requests", "/api/runs/{run_id}", "/api/runs/{run_id}/decisions",
             "/api/openapi.json"}  # fmt: skip
    assert set(schema["paths"]) == paths
    documented = set(schema["paths"]["/api/runs/{run_id}/decisions"]["post"]["responses"])
    assert {"200", "400", "401", "403", "404", "409", "410", "415", "422"} <= documented


def test_answers_carry_security_headers(served: tuple[Store, WebServer]) -> None:
    _, server = served
    answer = server.request("GET", "/api/requests", token=ALICE)
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_assignees_are_listed_filtered_and_enforced_and_decisions_say_api(
    kind: str, make_store: Callable[..., Store]
) -> None:
    from statemachine import HumanReview, OnReject, Step

    store = make_store(kind)

    def authorize(actor: str | None, requirement: object) -> bool:
        return actor != "bob"  # the workflow's own hook refuses bob

    review = HumanReview(requires_output_review=True, on_reject=OnReject.retry,
                         assignees=["alice", "bob"])  # fmt: skip
    assigned = Workflow(
        "assigned",
        [Step(name="write", executor=lambda si: "draft", human_review=review)],
        store,
        authorize=authorize,
    )
    open_to_all = reviewed(store)
    server = WebServer(store, [assigned, open_to_all], users=users())
    try:
        mine = assigned.run("x")
        open_to_all.run("y")
        listed = server.request("GET", "/api/requests?assignee=alice", token=ALICE).json()
        assert [(item["run_id"], item["assignees"]) for item in listed["items"]] == [
            (mine.run_id, ["alice", "bob"])
        ]
        before = store.load(mine.run_id)
        request_id = mine.requirements[0].request_id
        refused = _decide(server, mine.run_id, token=BOB, request_id=request_id,
                          decision="confirm")  # fmt: skip
        error = _error(refused, 403, "actor_refused")
        assert error["actor"] == "bob"
        _unchanged(store, before)
        applied = _decide(server, mine.run_id, request_id=request_id, decision="confirm")
        assert applied.json()["outcome"] == "applied"
        [answer] = store.load(mine.run_id).answers
        assert (answer.by, answer.via) == ("alice", "api")
    finally:
        server.stop()


def test_an_inbox_users_groups_admit_them_to_candidate_groups(
    make_store: Callable[..., Store],
) -> None:
    from statemachine import HumanReview, OnReject, Step
    from statemachine.web import from_environment

    users = from_environment({"STATEMACHINE_USERS": (
        "alice:alice-token-0123456789:reviewer:editors+legal,bob:bob-token-0123456789ab"
    )})  # fmt: skip
    alice = users.authenticate("alice-token-0123456789")
    assert alice is not None
    assert alice.groups == ("editors", "legal")
    store = make_store("sqlite")
    review = HumanReview(requires_output_review=True, on_reject=OnReject.retry,
                         candidate_groups=["editors"])  # fmt: skip
    grouped = Workflow("grouped", [Step(name="write", executor=lambda si: "draft",
                                        human_review=review)], store)  # fmt: skip
    server = WebServer(store, [grouped], users=users)
    try:
        run = grouped.run("x")
        request_id = run.requirements[0].request_id
        refused = _decide(server, run.run_id, token="bob-token-0123456789ab",
                          request_id=request_id, decision="confirm")  # fmt: skip
        _error(refused, 403, "actor_refused")
        applied = _decide(server, run.run_id, token="alice-token-0123456789",
                          request_id=request_id, decision="confirm")  # fmt: skip
        assert applied.json()["outcome"] == "applied"
    finally:
        server.stop()
