"""``statemachine serve`` as a real process: it prints the address once it answers, serves the
demo's store, stops on SIGTERM with 0, and refuses to listen beyond loopback without a token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stores import FileStore

from .web_flows import reviewed

ROOT = Path(__file__).parent.parent


def _environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STATEMACHINE_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _serve(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "statemachine", "serve", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_environment(**env),
    )  # fmt: skip


def test_serve_prints_its_address_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "runs")
    run = reviewed(store).run("text")
    process = _serve("--store", f"file://{tmp_path}/runs", "--app", "tests.cli_app:handshakes",
                     "--port", "0")  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # said once the server answers
        assert line.startswith("inbox: http://127.0.0.1:"), line
        address = line.split()[1]
        with urllib.request.urlopen(f"{address}api/requests", timeout=30) as answer:
            items = json.load(answer)["items"]
        assert [(item["run_id"], item["kind"]) for item in items] == [(run.run_id, "review")]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--host", "0.0.0.0"], {}, "refusing to listen on 0.0.0.0 without authentication"),
        (["--host", "192.0.2.1"], {}, "set STATEMACHINE_TOKEN or STATEMACHINE_USERS"),
        ([], {"STATEMACHINE_TOKEN": "short"}, "must be 16 to 256 URL-safe characters"),
        ([], {"STATEMACHINE_USERS": "alice:0123456789abcdefgh:admin"}, "entries are name:token"),
        (["--app", "no_such_module:workflow"], {}, "cannot load 'no_such_module:workflow'"),
    ],
)  # fmt: skip
def test_serve_refuses_what_is_unsafe_or_malformed(
    tmp_path: Path, args: list[str], env: dict[str, str], said: str
) -> None:
    process = _serve("--store", f"file://{tmp_path}/runs", "--port", "0", *args, **env)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2, err
    assert said in err
    assert out == ""
    assert "Traceback" not in err


def test_serve_exposes_metrics_in_prometheus_text_behind_the_token(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "runs")
    paused = reviewed(store).run("text")
    token = "a-token-for-the-metrics-test"
    process = _serve("--store", f"file://{tmp_path}/runs", "--app", "tests.cli_app:handshakes",
                     "--port", "0", "--log-format", "json", STATEMACHINE_TOKEN=token)  # fmt: skip
    try:
        assert process.stdout is not None
        address = process.stdout.readline().split()[1]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{address}metrics", timeout=30)
        assert refused.value.code == 401
        refused.value.close()
        asked = urllib.request.Request(
            f"{address}metrics", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(asked, timeout=30) as answer:
            kind = answer.headers["Content-Type"]
            text = answer.read().decode()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert kind.startswith("text/plain")
    pending = [
        line for line in text.splitlines() if line.startswith("statemachine_requests_pending")
    ]
    assert pending, text
    assert 'workflow="drafts"' in pending[0]
    assert pending[0].endswith(" 1.0")
    assert paused.status.value == "paused"
    assert process.returncode == 0, err
