"""Importing the core stays light: no store drivers, no test tools, no stores package."""

from __future__ import annotations

import subprocess
import sys


def test_core_import_pulls_in_no_drivers_or_stores() -> None:
    """`import statemachine` loads neither redis, nor the stores package, nor Hypothesis."""
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
        "statemachine.testing",
        "statemachine.diagram",
    ):
        assert forbidden not in loaded, forbidden
        assert not any(name.startswith(forbidden + ".") for name in loaded), forbidden
