"""The inbox's pages over real HTTP (the browser tests drive them in Chromium): everything a
run holds is shown as text, forms need their CSRF token and record a decision once, signing
in, viewers, and the loopback guard."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from statemachine import Step, Store, Workflow

from .web import TOKENS, VIEWER_TOKEN, Answer, WebServer, users
from .web_flows import confirmed, failing, form, reviewed, routed

ALICE = next(iter(TOKENS))
SCRIPT = "<script>alert('boom')</script>"


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store("sqlite")


@pytest.fixture
def open_server(store: Store) -> Iterator[WebServer]:
    """Anyone on loopback, as the local user: no token."""
    server = WebServer(store, [reviewed(store), form(store)])
    yield server
    server.stop()


@pytest.fixture
def guarded_server(store: Store) -> Iterator[WebServer]:
    server = WebServer(store, [reviewed(store), form(store)], users=users())
    yield server
    server.stop()


def _hidden(page: Answer, name: str, verdict: str | None = None) -> str:
    """The value of a hidden field of the page (in the form deciding `verdict`, if given)."""
    text = page.text
    if verdict is not None:
        text = text[text.index(f'name="decision" value="{verdict}"') - 400 :]
    found = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert found is not None, name
    return found.group(1)


def test_user_content_is_shown_as_text(open_server: WebServer, store: Store) -> None:
    run = reviewed(store).run(SCRIPT)
    path = f"/runs/{run.run_id}/requests/refine:review:1"
    page = open_server.request("GET", path)
    assert page.status == 200
    assert "<script>" not in page.text
    assert "Draft for &lt;script&gt;alert(&#39;boom&#39;)&lt;/script&gt;" in page.text
    csrf = _hidden(page, "csrf")
    decided = open_server.request("POST", path, form={
        "csrf": csrf, "decision": "reject", "feedback": SCRIPT,
        "decision_id": _hidden(page, "decision_id", "reject")})  # fmt: skip
    assert decided.status == 303, decided.text
    shown = open_server.request("GET", f"/runs/{run.run_id}")
    assert "<script>" not in shown.text
    assert "&lt;script&gt;" in shown.text


def test_a_form_needs_its_csrf_token_and_decides_once(open_server: WebServer, store: Store) -> None:
    run = reviewed(store).run("text")
    path = f"/runs/{run.run_id}/requests/refine:review:1"
    page = open_server.request("GET", path)
    fields = {"decision": "confirm", "decision_id": _hidden(page, "decision_id", "confirm")}
    for csrf in ({}, {"csrf": "forged"}):
        refused = open_server.request("POST", path, form={**fields, **csrf})
        assert refused.status == 403
        assert 'data-type="csrf_failed"' in refused.text
    assert store.load(run.run_id).answers == ()
    sent = {**fields, "csrf": _hidden(page, "csrf")}
    first = open_server.request("POST", path, form=sent)
    assert (first.status, first.headers["location"]) == (303, f"/runs/{run.run_id}?decided=applied")
    again = open_server.request("POST", path, form=sent)  # the form submitted twice
    assert again.headers["location"] == f"/runs/{run.run_id}?decided=duplicate"
    assert len(store.load(run.run_id).answers) == 1
    gone = open_server.request("GET", path)
    assert gone.status == 409
    assert "no longer pending" in gone.text


def test_bad_values_are_refused_with_what_is_wrong(open_server: WebServer, store: Store) -> None:
    run = form(store).run("order")
    path = f"/runs/{run.run_id}/requests/order:input:0"
    page = open_server.request("GET", path)
    assert page.status == 200, page.text
    assert 'name="field:count"' in page.text
    assert '<option value="&#34;red&#34;">red</option>' in page.text
    sent = {"csrf": _hidden(page, "csrf"), "decision": "provide",
            "decision_id": _hidden(page, "decision_id", "provide")}  # fmt: skip
    bad = open_server.request("POST", path, form={**sent, "field:count": "two"})
    assert bad.status == 400
    assert "not a valid int" in bad.text
    missing = open_server.request("POST", path, form={**sent, "field:count": "2"})
    assert missing.status == 400
    assert "colour" in missing.text
    assert store.load(run.run_id).answers == ()
    good = open_server.request("POST", path, form={**sent, "field:count": "2",
                                                   "field:colour": '"blue"'})  # fmt: skip
    assert good.headers["location"].endswith("?decided=applied")
    again = open_server.request("POST", path, form={**sent, "field:count": "2",
                                                    "field:colour": '"blue"'})  # fmt: skip
    assert again.headers["location"].endswith("?decided=duplicate")  # the form sent twice
    (answer,) = store.load(run.run_id).answers
    assert answer.value == {"count": 2, "colour": "blue"}


def test_signing_in_with_a_token(guarded_server: WebServer, store: Store) -> None:
    reviewed(store).run("text")
    first = guarded_server.request("GET", "/")
    assert (first.status, first.headers["location"]) == (303, "/login?next=%2F")
    login = guarded_server.request("GET", "/login?next=//elsewhere.example/")
    csrf = _hidden(login, "csrf")
    assert _hidden(login, "next") == "/"  # never a redirect off this server
    wrong = guarded_server.request("POST", "/login", form={"csrf": csrf, "token": "nope" * 5})
    assert wrong.status == 401
    assert "set-cookie" not in wrong.headers
    signed = guarded_server.request("POST", "/login", form={"csrf": csrf, "token": ALICE,
                                                            "next": "/"})  # fmt: skip
    assert signed.status == 303
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    inbox = guarded_server.request("GET", "/", headers={"Cookie": session})
    assert inbox.status == 200
    assert "alice" in inbox.text
    assert "Accept this draft?" in inbox.text
    name, _, value = session.partition("=")
    forged = value.replace("alice", "bob", 1)
    refused = guarded_server.request("GET", "/", headers={"Cookie": f"{name}={forged}"})
    assert refused.status == 303


def test_a_viewer_reads_and_cannot_decide(guarded_server: WebServer, store: Store) -> None:
    run = reviewed(store).run("text")
    login = guarded_server.request("GET", "/login")
    signed = guarded_server.request("POST", "/login", form={
        "csrf": _hidden(login, "csrf"), "token": VIEWER_TOKEN, "next": "/"})  # fmt: skip
    session = {"Cookie": signed.headers["set-cookie"].split(";")[0]}
    path = f"/runs/{run.run_id}/requests/refine:review:1"
    page = guarded_server.request("GET", path, headers=session)
    assert page.status == 200
    assert 'name="decision"' not in page.text
    refused = guarded_server.request("POST", path, headers=session, form={
        "csrf": _hidden(page, "csrf"), "decision": "confirm"})  # fmt: skip
    assert refused.status == 403
    assert 'data-type="actor_refused"' in refused.text
    assert store.load(run.run_id).answers == ()


def test_without_tokens_only_loopback_names_are_answered(
    open_server: WebServer, guarded_server: WebServer
) -> None:
    rebound = {"Host": f"attacker.example:{open_server.port}"}
    assert open_server.request("GET", "/", headers=rebound).status == 421
    assert open_server.request("GET", "/api/requests", headers=rebound).status == 421
    assert open_server.request("GET", "/", headers={"Host": "localhost"}).status == 200
    answer = guarded_server.request("GET", "/api/requests", token=ALICE,
                                    headers={"Host": "inbox.example"})  # fmt: skip
    assert answer.status == 200


@pytest.mark.parametrize(
    ("make", "control", "fields", "content"),
    [
        (routed, 'name="route" value="slow"', {"decision": "select", "route": "slow"}, "slow(x)"),
        (confirmed, 'id="confirm"', {"decision": "confirm"}, "launch(x)"),
        (failing, 'id="skip"', {"decision": "skip"}, "after(x)"),
    ],
)  # fmt: skip
def test_each_kind_has_its_controls(
    open_server: WebServer,
    store: Store,
    make: Callable[[Store], Workflow],
    control: str,
    fields: dict[str, str],
    content: str,
) -> None:
    workflow = make(store)
    run = workflow.run("x")
    request_id = store.load(run.run_id).pending_gate.request.request_id  # type: ignore[union-attr]
    path = f"/runs/{run.run_id}/requests/{request_id}"
    page = open_server.request("GET", path)
    assert page.status == 200, page.text
    assert control in page.text
    if make is failing:
        assert "upstream said &lt;no&gt;" in page.text
    sent = {**fields, "csrf": _hidden(page, "csrf"),
            "decision_id": _hidden(page, "decision_id", fields["decision"])}  # fmt: skip
    assert open_server.request("POST", path, form=sent).status == 303
    assert workflow.continue_run(run.run_id).content == content


def test_the_run_page_shows_how_each_decision_came_and_each_notification(
    make_store: Callable[..., Store],
) -> None:
    from statemachine import Workflow
    from statemachine.runtime.hooks import PauseNotice

    store = make_store("memory")

    def tell(notice: PauseNotice) -> None:
        raise ConnectionError("<b>down</b>")

    drafts = reviewed(store)
    told = Workflow(drafts.name, drafts.steps, store, on_pause=[tell])
    run = told.run("text")
    store.decide(run.run_id, None, "reject", "again", by="dana", via="api")
    server = WebServer(store, [told])
    try:
        page = server.request("GET", f"/runs/{run.run_id}").text
    finally:
        server.stop()
    assert "<td>dana</td><td>api</td>" in page
    assert 'id="notices"' in page
    assert "<td>tell</td><td>paused</td>" in page
    assert "ConnectionError: &lt;b&gt;down&lt;/b&gt;" in page  # escaped


def test_the_run_page_shows_a_failed_steps_traceback(make_store: Callable[..., Store]) -> None:
    store = make_store("memory")

    def broken(step_input: object) -> str:
        raise ValueError("upstream said <no>")

    boom = Workflow("boom", [Step(name="call", executor=broken)], store)
    failed = boom.run("x")
    assert failed.status.value == "failed"
    server = WebServer(store, [boom])
    try:
        page = server.request("GET", f"/runs/{failed.run_id}").text
    finally:
        server.stop()
    assert 'id="traceback"' in page
    assert "Traceback (most recent call last)" in page
    assert "upstream said &lt;no&gt;" in page


def test_forms_and_cookies_the_server_cannot_read_are_refused_not_errors(
    guarded_server: WebServer, store: Store
) -> None:
    """A sign-in form that is not UTF-8, a CSRF token or session cookie with non-ASCII text
    (which `hmac.compare_digest` refuses with a TypeError), and JSON nested too deeply to parse
    (a RecursionError) are answered with a 4xx page, never a 500; nothing is decided."""
    run = form(store).run("order")
    drafted = reviewed(store).run("text")
    encoded = {"Content-Type": "application/x-www-form-urlencoded"}
    not_utf8 = guarded_server.request("POST", "/login", b"csrf=\xff&token=\xff", headers=encoded)
    assert not_utf8.status == 400
    assert 'data-type="bad_request"' in not_utf8.text
    forged = guarded_server.request("POST", "/login", form={"csrf": "\u00e9", "token": ALICE})
    assert forged.status == 403
    assert "set-cookie" not in forged.headers
    for cookie in ("alice|9999999999|\u00e9", "\u00e9|\u00e9|\u00e9"):
        outside = guarded_server.request(
            "GET", "/", headers={"Cookie": f"statemachine_session={cookie}"}
        )
        assert outside.status == 303  # to the sign-in page
    login = guarded_server.request("GET", "/login")
    signed = guarded_server.request("POST", "/login", form={
        "csrf": _hidden(login, "csrf"), "token": ALICE, "next": "/"})  # fmt: skip
    session = {"Cookie": signed.headers["set-cookie"].split(";")[0]}
    deep = "[" * 5000 + "]" * 5000
    for path, fields in [
        (f"/runs/{run.run_id}/requests/order:input:0",
         {"decision": "provide", "field:count": "2", "field:colour": deep}),
        (f"/runs/{drafted.run_id}/requests/refine:review:1", {"decision": "edit", "value": deep}),
    ]:  # fmt: skip
        page = guarded_server.request("GET", path, headers=session)
        sent = {**fields, "csrf": _hidden(page, "csrf"), "decision_id": "deep"}
        refused = guarded_server.request("POST", path, form=sent, headers=session)
        assert refused.status == 400, refused.text
        non_ascii = guarded_server.request("POST", path, form={**sent, "csrf": "\u00e9"},
                                           headers=session)  # fmt: skip
        assert non_ascii.status == 403
    assert store.load(run.run_id).answers == ()
    assert store.load(drafted.run_id).answers == ()
