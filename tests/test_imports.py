"""Importing the core stays light: no store drivers, no test tools, no stores package."""

from __future__ import annotations

import subprocess
import sys


def test_core_import_pulls_in_no_drivers_or_stores() -> None:
    """`import statemachine` loads no driver, store, test tool, or what only some uses need
    (cattrs for encoding, transitions for building the machine, the worker)."""
    script = "import sys, statemachine\nprint('\\n'.join(sorted(sys.modules)))\n"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    assert "statemachine" in loaded
    for forbidden in (
        "redis",
        "stores",
        "hypothesis",
        "cattrs",
        "transitions",
        "statemachine.testing",
        "statemachine.tools.diagram",
        "statemachine.runtime.worker",
    ):
        assert forbidden not in loaded, forbidden
        assert not any(name.startswith(forbidden + ".") for name in loaded), forbidden
