"""Running the example programs as a user would: a subprocess, answers on stdin, and the
store line swapped for the store under test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


SEED_STORE_LINE = 'store=FileStore("runs")'


def run_example(name: str, cwd: Path, stdin: str = "", store_url: str | None = None) -> str:
    """Run examples/NAME.py (NAME may be in a folder: "agno/router_user_selection") in `cwd`
    with `stdin`; return its output, failing on a non-zero exit.

    With `store_url`, the example's store line is swapped for that store (the examples
    themselves keep the seed page's file store).
    """
    path = EXAMPLES / f"{name}.py"
    command = [sys.executable, str(path)]
    if store_url is not None:
        source = path.read_text()
        assert SEED_STORE_LINE in source
        source = source.replace(SEED_STORE_LINE, f"store=open_store({store_url!r})")
        source = source.replace("from stores import FileStore", "from stores import open_store")
        command = [sys.executable, "-c", source]
    result = subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": f"{EXAMPLES}{os.pathsep}{path.parent}"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
