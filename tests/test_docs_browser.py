"""The documentation site in a real browser, offline: every request that leaves the machine
is refused, and the diagrams still render (the site ships Mermaid; the theme fetches it from
a CDN only when it is missing)."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Route, sync_playwright

from .test_web_browser import CHROMIUM, FLAGS, WAIT_MS

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    built = tmp_path_factory.mktemp("site")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(built)]
    subprocess.run(mkdocs, cwd=ROOT, check=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                       "PATH": "/usr/bin:/bin"})  # fmt: skip
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_diagrams_render_with_no_network(site: str) -> None:
    refused: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(site):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.route("**/*", local_only)
            page.goto(f"{site}/state-machine/")
            # The theme renders each `pre.mermaid` into a `div.mermaid` (its SVG in a closed
            # shadow root); one left as `pre` is raw text.
            page.locator("div.mermaid").first.wait_for(state="attached")
            page.wait_for_function("document.querySelectorAll('pre.mermaid').length === 0")
            assert page.locator("div.mermaid").count() >= 2
            assert page.evaluate("typeof mermaid") == "object"
        finally:
            browser.close()
    assert refused == []  # nothing asked of another host: no CDN, no web fonts
