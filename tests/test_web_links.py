"""Decision links over real HTTP: opening one shows what it decides and changes nothing; its
POST decides once, by the person it was made for; a link used, expired, forged, altered or
overtaken shows a page that says so, and changes nothing. And ``statemachine link``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from statemachine import RunRecord, Store
from statemachine.web.links import Links
from stores import SqliteStore

from .web import Answer, WebServer
from .web_flows import reviewed

KEY = b"k" * 40
ROOT = Path(__file__).parent.parent


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, make_store: Callable[..., Store]) -> Store:
    return make_store(request.param)


@pytest.fixture
def server(store: Store) -> Iterator[WebServer]:
    served = WebServer(store, [reviewed(store)], links=Links(KEY))
    yield served
    served.stop()


def _same(store: Store, before: RunRecord) -> None:
    after = store.load(before.run_id)
    assert (after.version, after.answers) == (before.version, before.answers)


def _refused(answer: Answer, status: int, kind: str) -> None:
    assert answer.status == status, answer.text
    assert f'data-type="{kind}"' in answer.text


def test_opening_a_link_decides_nothing_and_its_post_decides_once(
    server: WebServer, store: Store
) -> None:
    run = reviewed(store).run("<b>text</b>")
    token = Links(KEY).make(store.load(run.run_id), actor="dana")
    before = store.load(run.run_id)
    for _ in range(3):  # a mail scanner, then the person, then again
        shown = server.request("GET", f"/links/{token}")
        assert shown.status == 200
        assert "Draft for &lt;b&gt;text&lt;/b&gt;" in shown.text
        assert 'value="confirm"' in shown.text
    _same(store, before)
    decided = server.request("POST", f"/links/{token}", form={"decision": "reject",
                                                              "feedback": "more"})  # fmt: skip
    assert decided.status == 200
    assert 'data-decided="reject"' in decided.text
    (answer,) = store.load(run.run_id).answers
    assert (answer.how, answer.by, answer.value) == ("reject", "dana", "more")
    after = store.load(run.run_id)
    _refused(server.request("POST", f"/links/{token}", form={"decision": "reject",
                                                             "feedback": "more"}),
             409, "link_used")  # fmt: skip
    _refused(server.request("POST", f"/links/{token}", form={"decision": "confirm"}),
             409, "link_used")  # fmt: skip
    _refused(server.request("GET", f"/links/{token}"), 409, "link_used")
    _same(store, after)


def test_expired_forged_altered_and_overtaken_links_change_nothing(
    server: WebServer, store: Store
) -> None:
    run = reviewed(store).run("text")
    record = store.load(run.run_id)
    expired = Links(KEY).make(record, seconds=60, now=0)
    forged = Links(b"f" * 40).make(record)
    genuine = Links(KEY).make(record, decisions=("confirm",))
    payload, _, mac = genuine.partition(".")
    altered = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}"
    for token, status, kind in (
        (expired, 410, "link_expired"),
        (forged, 400, "link_invalid"),
        (altered, 400, "link_invalid"),
        ("junk", 400, "link_invalid"),
    ):
        _refused(server.request("GET", f"/links/{token}"), status, kind)
        _refused(server.request("POST", f"/links/{token}", form={"decision": "confirm"}),
                 status, kind)  # fmt: skip
    not_allowed = server.request("POST", f"/links/{genuine}", form={"decision": "reject"})
    _refused(not_allowed, 400, "bad_request")
    _same(store, record)
    store.decide(run.run_id, "refine:review:1", "confirm", by="erin")  # decided elsewhere first
    overtaken = store.load(run.run_id)
    _refused(server.request("POST", f"/links/{genuine}", form={"decision": "confirm"}),
             409, "stale_request")  # fmt: skip
    _same(store, overtaken)


def test_links_are_not_served_without_a_key(store: Store) -> None:
    server = WebServer(store, [reviewed(store)])
    try:
        run = reviewed(store).run("text")
        token = Links(KEY).make(store.load(run.run_id))
        assert server.request("GET", f"/links/{token}").status == 404
    finally:
        server.stop()


def test_the_link_command_prints_a_link_the_server_accepts(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "runs.db", create=True)
    server = WebServer(store, [reviewed(store)], links=Links(KEY))
    try:
        _link_command(server, store)
    finally:
        server.stop()
        store.close()


def _link_command(server: WebServer, store: SqliteStore) -> None:
    run = reviewed(store).run("text")
    env = {"STATEMACHINE_LINK_KEY": KEY.decode(), "PATH": "/usr/bin:/bin",
           "STATEMACHINE_STORE": f"sqlite://{store.path}"}  # fmt: skip
    made = subprocess.run(
        [sys.executable, "-m", "statemachine", "link", run.run_id[:20], "--to", "frank",
         "--decision", "confirm", "--url", server.url],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    url = made.stdout.strip()
    assert url.startswith(f"{server.url}/links/")
    path = url.removeprefix(server.url)
    assert 'value="reject"' not in server.request("GET", path).text
    assert server.request("POST", path, form={"decision": "confirm"}).status == 200
    assert store.load(run.run_id).answers[0].by == "frank"
    del env["STATEMACHINE_LINK_KEY"]
    no_key = subprocess.run(
        [sys.executable, "-m", "statemachine", "link", run.run_id],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert no_key.returncode == 2
    assert "STATEMACHINE_LINK_KEY" in no_key.stderr


def test_a_webhook_carries_a_link_that_still_decides_after_its_delivery_is_recorded(
    server: WebServer, store: Store
) -> None:
    """The notice's link is made before the delivery is recorded (a write of its own): the
    request it names is still the pending one, so it decides."""
    from statemachine import Workflow
    from statemachine.runtime.hooks import PauseNotice, Webhook
    from statemachine.web.links import decision_links

    received: list[PauseNotice] = []

    class Keep(Webhook):
        def __call__(self, notice: PauseNotice) -> None:
            received.append(notice)

    hook = Keep("http://127.0.0.1:9/", links=decision_links(server.url, KEY))
    drafts = reviewed(store)
    linked = Workflow(drafts.name, drafts.steps, store, on_pause=[hook])
    run = linked.run("text")
    [notice] = received
    url = notice.links["decide"]
    assert url.startswith(server.url.rstrip("/") + "/links/")
    stored = store.load(run.run_id)
    assert stored.outbox[0].status == "delivered"  # recorded after the link was made
    path = url.removeprefix(server.url.rstrip("/"))
    assert server.request("GET", path).status == 200
    decided = server.request("POST", path, form={"decision": "confirm"})
    assert decided.status == 200, decided.text
    assert [answer.how for answer in store.load(run.run_id).answers] == ["confirm"]
