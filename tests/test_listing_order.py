"""Listings from either end, on every store: `page` and `dead` give the runs most recently
changed first, or with `oldest_first` least recently changed first, in exactly the reverse
order, a page at a time; and a purge reads its listings oldest first, only as far as it
removes."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import attrs
import pytest

from statemachine import InvalidArgument, RetryPolicy, RunStatus, Store, Worker
from statemachine.store.plans import carry_out
from statemachine.store.retention import PAGE, plan_purge
from statemachine.store.values import RunList
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run

from .test_retention import workflows


def _ids(runs: RunList) -> list[str]:
    return [run.run_id for run in runs]


def _paged(store: Store, state: str | None, size: int) -> list[str]:
    """Every run of `state`, oldest first, read `size` at a time."""
    seen: list[str] = []
    while chunk := store.page(state, limit=size, offset=len(seen), oldest_first=True):
        seen += _ids(chunk)
    return seen


def test_pages_come_from_either_end_in_one_order(store: Store) -> None:
    plain, reviewed, _ = workflows(store)
    done = [plain.run(f"x{n}").run_id for n in range(4)]
    paused = [reviewed.run(f"y{n}").run_id for n in range(3)]
    done.append(plain.run("last").run_id)
    every = [*done[:4], *paused, done[4]]
    for state, expected in ((None, every), ("completed", done), ("awaiting_review", paused)):
        assert _ids(store.page(state, limit=100, oldest_first=True)) == expected, state
        assert _ids(store.page(state, limit=100)) == expected[::-1], state
        for size in (1, 2, 3):
            assert _paged(store, state, size) == expected, (state, size)
    assert _ids(store.page("completed", limit=2, offset=1, oldest_first=True)) == done[1:3]
    assert _ids(store.page("failed", oldest_first=True)) == []


def test_dead_letters_from_either_end(store: Store) -> None:
    _, _, failing = workflows(store)
    submitted = [failing.submit(f"f{n}") for n in range(3)]
    worker = Worker([failing], store, retry=RetryPolicy(max_attempts=1))
    for _ in submitted:
        assert worker.work_once()  # the longest waiting first: they fail in this order
    assert _ids(store.dead(oldest_first=True)) == submitted
    assert _ids(store.dead()) == submitted[::-1]
    assert _ids(store.dead(limit=1, offset=1, oldest_first=True)) == submitted[1:2]


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_the_order_must_be_true_or_false(store: Store, flag: Any) -> None:
    with pytest.raises(InvalidArgument, match="oldest_first must be True or False"):
        store.page(oldest_first=flag)
    with pytest.raises(InvalidArgument, match="oldest_first must be True or False"):
        store.dead(oldest_first=flag)


def test_a_purge_reads_each_listing_only_as_far_as_it_removes() -> None:
    """Two listings of ended runs, oldest first, of 3 pages each: a purge of the runs before
    the 1,000th reads two pages of the first and one of the second; a purge limited to 10
    reads one page of each."""
    template = attrs.evolve(sample_run("x", EPOCH, paused=False), status=RunStatus.completed)
    listings = [
        [attrs.evolve(template, run_id=f"{name}{n:05d}", updated_at=EPOCH + timedelta(seconds=n))
         for n in range(3 * PAGE - 7)]
        for name in ("a", "b")
    ]  # fmt: skip
    read: list[tuple[int, int]] = []

    def lister(number: int) -> Any:
        def listing(offset: int) -> Generator[Any, Any, RunList]:
            read.append((number, offset))
            return RunList(listings[number][offset : offset + PAGE])
            yield  # a plan that needs no effect

        return listing

    def purge(before_second: int, limit: int) -> list[str]:
        read.clear()
        before = EPOCH + timedelta(seconds=before_second)
        return carry_out(plan_purge([lister(0), lister(1)], before, None, True, limit), print)

    chosen = purge(700, 10_000)
    assert len(chosen) == 2 * 700
    assert read == [(0, 0), (0, PAGE), (1, 0), (1, PAGE)]
    assert purge(100, 10) == [f"{name}{n:05d}" for n in range(5) for name in "ab"]
    assert read == [(0, 0), (1, 0)]
    assert len(purge(10_000, 10_000)) == 2 * (3 * PAGE - 7)  # every page of both
    assert read == [(number, page * PAGE) for number in (0, 1) for page in range(3)]
