"""The inbox for the tests: a real uvicorn server on a free loopback port, in a thread of the
test process (so that it shares a memory store with the test), and a small HTTP client."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import uvicorn

from statemachine import Store, Workflow
from statemachine.web import Authenticator, Users, create_app
from statemachine.web.links import Links
from statemachine.web.requests import Authorize

TOKENS = {"alice-token-0123456789": "alice", "bob-token-0123456789ab": "bob"}
VIEWER_TOKEN = "carol-token-0123456789"


def users() -> Users:
    """alice and bob review; carol only reads."""
    from statemachine.web import User

    given = {token: User(name) for token, name in TOKENS.items()}
    return Users({**given, VIEWER_TOKEN: User("carol", may_decide=False)})


class Answer:
    """An HTTP answer: status, headers and body (JSON when it is)."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, body
        self.text = body.decode()

    def json(self) -> Any:
        return json.loads(self.raw)


class WebServer:
    """The inbox over `store`, served until `stop`."""

    def __init__(
        self,
        store: Store,
        workflows: Iterable[Workflow] = (),
        *,
        users: Authenticator | None = None,
        refusals: Iterable[Authorize] = (),
        links: Links | None = None,
    ) -> None:
        started = threading.Event()
        app = create_app(store, workflows, users=users or Users(), refusals=refusals,
                         links=links, on_startup=started.set)  # fmt: skip
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        assert started.wait(30), "the inbox did not start within 30 s"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        assert not self._thread.is_alive(), "the inbox did not stop within 30 s"
        self._socket.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str | list[str]] | None = None,
        query: Mapping[str, str | int] | None = None,
    ) -> Answer:
        """One request on a fresh connection; redirects are not followed."""
        sent = dict(headers or {})
        data: bytes | None = None
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if form is not None:
            data = urlencode(form, doseq=True).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if query:
            path += "?" + urlencode(query)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, data, sent)
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()
