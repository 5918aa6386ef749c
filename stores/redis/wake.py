"""Waking idle workers: a write that makes a run runnable now pushes a token on its
partition's ``wake`` list (the write script), and an idle worker's ``BLPOP`` on every
partition's list takes it and looks for work at once. Polling stays the safety net: a token
lost, or taken by another worker, only means the next look comes at the usual time."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import TYPE_CHECKING

from statemachine.core.errors import StoreError

if TYPE_CHECKING:
    from stores.redis.store import RedisStore

__all__ = ["idle"]


def idle(store: RedisStore, stop: threading.Event, seconds: float) -> None:
    """Wait for a wake token up to `seconds`; a Cluster, whose partitions one ``BLPOP``
    cannot span, waits as other stores do."""
    if store._cluster or seconds < 0.01 or stop.is_set():
        stop.wait(seconds)
        return
    keys = [f"{tag}:wake" for tag in store._tags()]
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left < 0.01:
            return
        wait = min(1.0, left)  # a second at a time at most: a stopping worker stops promptly
        try:
            woken = store.client.call(partial(store.client.driver.blpop, keys, timeout=wait))
        except StoreError:  # the server is away: the worker's own retry takes over
            stop.wait(left)
            return
        if woken is not None:
            return
