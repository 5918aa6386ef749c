"""Shared fixtures, and the Hypothesis profiles: `dev` (quick, the default) and `ci` (thorough,
what `make test` uses)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from statemachine import Store
from statemachine.testing import EPOCH
from stores import FileStore, MemoryStore

from .helpers import Clock

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    database=None,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

STORE_KINDS = ["memory", "file"]


def make_store(kind: str, directory: Path) -> Store:
    """A fresh store of `kind`; file stores live under `directory`."""
    if kind == "memory":
        return MemoryStore()
    return FileStore(directory / "runs")


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store kind in turn, empty."""
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock starting at a fixed instant."""
    return Clock(EPOCH)
