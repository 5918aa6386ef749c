"""Talking to Redis: the Lua scripts, retries with backoff, and the driver's errors as ours."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from statemachine.core.errors import CorruptRun, StoreError, StoreUnavailable

from .url import clean

__all__ = ["Client", "script"]

T = TypeVar("T")


@cache
def script(name: str) -> str:
    """The text of the Lua script `name` (shipped in this package's ``scripts/``)."""
    return resources.files(__package__).joinpath(f"scripts/{name}.lua").read_text()


class Client:
    """A redis-py client with the store's retry policy and error translation.

    Args:
        driver: a ``redis.Redis`` or ``redis.cluster.RedisCluster``.
        where: how to name the server in errors (credentials masked).
        retry_seconds: for how long connection errors are retried before `StoreUnavailable`.
    """

    def __init__(self, driver: Any, where: str, retry_seconds: float) -> None:
        import redis  # the driver is imported only when a Redis store is built

        self.driver = driver
        self.where = where
        self.retry_seconds = retry_seconds
        self._errors = redis.exceptions
        self._scripts = {name: driver.register_script(script(name)) for name in _SCRIPTS}

    def call(self, operation: Callable[[], T], where: str = "", run_id: str | None = None) -> T:
        """Run `operation`, retrying connection errors with backoff; the driver's errors come
        out as the library's (`StoreUnavailable`, `CorruptRun`, `StoreError`).

        Every operation of the store is safe to retry: writes carry operation ids.
        """
        errors = self._errors
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.02
        while True:
            try:
                return operation()
            except (errors.ConnectionError, errors.TimeoutError) as exc:
                if isinstance(exc, errors.AuthenticationError) or time.monotonic() >= deadline:
                    raise StoreUnavailable(f"Redis at {self.where}: {clean(exc)}") from exc
                time.sleep(delay * (0.5 + random.random()))  # backoff: the server is away
                delay = min(delay * 2, 1.0)
            except errors.ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    raise CorruptRun(
                        where or self.where, "a key of the wrong type", run_id
                    ) from exc
                raise StoreError(f"Redis at {self.where} refused: {clean(exc)}") from exc
            except (errors.RedisError, errors.RedisClusterException) as exc:
                raise StoreUnavailable(f"Redis at {self.where}: {clean(exc)}") from exc

    def run(self, name: str, keys: Sequence[str | bytes], args: Sequence[str | bytes]) -> Any:
        """Run the script `name` (as redis-py's `Script` would, minus a slow check for
        pipelines), loading it again if the server lost it (SCRIPT FLUSH, a restart)."""
        found = self._scripts[name]
        try:
            return self.driver.evalsha(found.sha, len(keys), *keys, *args)
        except self._errors.NoScriptError:
            return found(keys=keys, args=args)


_SCRIPTS = ("write", "lease", "release", "quarantine", "unlink", "settle")
