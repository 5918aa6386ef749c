"""The inbox in a real browser: Debian's Chromium, headless, driven by Playwright (the system
browser: nothing is downloaded), against a real server, with a real worker executing what the
reviewer decides. Screenshots of the inbox and a request page are taken on the way; with
``STATEMACHINE_SCREENSHOTS=DIR`` they are written there (``make screenshots`` refreshes the
ones in ``docs/images``)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from statemachine import Store, Workflow
from statemachine.runtime.worker import Worker
from statemachine.web.links import Links

from .web import TOKENS, WebServer, users
from .web_flows import form, reviewed

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ALICE = next(iter(TOKENS))
LINK_KEY = b"a-key-for-decision-links-in-these-tests"
WAIT_MS = 30_000  # the longest any step waits for the page to show what it expects


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium", False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store("sqlite")


@pytest.fixture
def workflows(store: Store) -> list[Workflow]:
    return [reviewed(store), form(store)]


@pytest.fixture
def inbox(store: Store, workflows: list[Workflow]) -> Iterator[WebServer]:
    """The inbox, with a worker executing the runs its reviewers decide."""
    server = WebServer(store, workflows, users=users(), links=Links(LINK_KEY))
    stop = threading.Event()
    worker = threading.Thread(target=Worker(workflows, store).run, args=(stop,))
    worker.start()
    yield server
    stop.set()
    worker.join(30)
    server.stop()


@pytest.fixture
def page(browser: Browser, inbox: WebServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems: list[str] = []  # a script that fails, or a resource the policy refuses
    opened.on("console", lambda message: problems.append(message.text)
              if message.type == "error" else None)  # fmt: skip
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert problems == []


def _sign_in(page: Page, inbox: WebServer) -> None:
    page.goto(f"{inbox.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Token").fill(ALICE)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Waiting for a decision")).to_be_visible()


def _screenshot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("STATEMACHINE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_a_reviewer_rejects_sees_the_next_iteration_then_edits_and_approves(
    page: Page, inbox: WebServer, workflows: list[Workflow], tmp_path: Path
) -> None:
    drafts = workflows[0]
    run = drafts.run("the quarterly numbers <b>are in</b>")
    form(drafts.store).run("a second request, to show a fuller inbox")
    _sign_in(page, inbox)
    rows = page.locator("table.inbox tbody tr")
    expect(rows).to_have_count(2)
    _screenshot(page, tmp_path, "inbox.png")
    workflow_column = rows.locator("td:nth-child(2)")
    expect(workflow_column).to_have_text(["orders", "drafts"])  # most recently asked first
    page.get_by_label("Order").select_option("oldest")
    page.get_by_role("button", name="Filter").click()
    expect(workflow_column).to_have_text(["drafts", "orders"])  # the longest waiting first
    page.get_by_role("link", name="Accept this draft?").click()
    output = page.locator("#output")
    expect(output).to_have_text("Draft for the quarterly numbers <b>are in</b>\nSecond line")
    page.locator("#feedback").fill("Say what changed")
    page.locator("#reject").click()
    expect(page.get_by_role("status")).to_have_text("Your decision was recorded (applied).")
    # The worker runs the next iteration; the run page updates itself until it pauses again.
    pending = page.locator("#pending")
    expect(pending).to_have_text("Review of refine, iteration 2: decide")
    pending.click()
    expect(output).to_contain_text("Revised: Say what changed")
    expect(page.locator(".diff .add")).to_have_text("Revised: Say what changed")
    expect(page.locator("ol.feedback li")).to_have_text(["Say what changed"])
    # The run's place in its workflow, drawn by the packaged Mermaid: the review is current.
    expect(page.locator("#diagram svg")).to_be_visible()
    expect(page.locator("#diagram svg g.node.current")).to_contain_text("review")
    _screenshot(page, tmp_path, "request.png")
    page.locator("#edited").fill("The numbers are in, and better than hoped.")
    page.locator("#edit").click()
    expect(page.locator("#status")).to_have_text("completed")
    expect(page.locator("pre.output")).to_have_text("The numbers are in, and better than hoped.")
    trail = page.locator("table.audit").first.locator("tbody tr")
    expect(trail).to_have_count(2)
    expect(trail.nth(0)).to_contain_text("reject")
    expect(trail.nth(0)).to_contain_text("alice")
    expect(trail.nth(1)).to_contain_text("edit")
    expect(trail.nth(1)).to_contain_text("alice")
    assert drafts.get_run(run.run_id).content == "The numbers are in, and better than hoped."


def test_an_input_form_is_filled_and_submitted(
    page: Page, inbox: WebServer, workflows: list[Workflow]
) -> None:
    run = workflows[1].run("order")
    _sign_in(page, inbox)
    page.get_by_role("link", name="Fill in the order").click()
    page.locator('input[name="field:count"]').fill("3")
    page.locator('select[name="field:colour"]').select_option(label="blue")
    page.locator('input[name="field:note"]').fill("<i>fragile</i>")
    page.locator("#submit-input").click()
    expect(page.locator("#status")).to_have_text("completed")
    expect(page.locator("pre.output")).to_contain_text('"note": "<i>fragile</i>"')
    assert workflows[1].get_run(run.run_id).content == {
        "count": 3, "colour": "blue", "note": "<i>fragile</i>"}  # fmt: skip


def test_a_decision_link_decides_once(
    browser: Browser, inbox: WebServer, workflows: list[Workflow]
) -> None:
    """Opened twice before anyone decides: the first confirms, the second is refused."""
    drafts = workflows[0]
    run = drafts.run("numbers")
    token = Links(LINK_KEY).make(drafts.store.load(run.run_id), actor="dana")
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    for opened in (first, second):
        opened.set_default_timeout(WAIT_MS)
        opened.goto(f"{inbox.url}/links/{token}")
        expect(opened.locator("#output")).to_have_text("Draft for numbers\nSecond line")
    assert drafts.store.load(run.run_id).answers == ()  # opening a link decides nothing
    first.locator("#confirm").click()
    expect(first.get_by_role("status")).to_contain_text("Your decision (confirm) was recorded")
    second.locator("#feedback").fill("too late")
    second.locator("#reject").click()
    expect(second.get_by_role("alert")).to_have_text("This link was used already: it decides once.")
    (answer,) = drafts.store.load(run.run_id).answers
    assert (answer.how, answer.by) == ("confirm", "dana")
    context.close()
