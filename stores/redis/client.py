"""Talking to Redis: the commands plans ask for, the Lua scripts, retries with backoff, and
the driver's errors as the library's; once for redis-py's client and once for its asyncio
client, which differ in nothing else."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any, NamedTuple, TypeVar

from statemachine.core.errors import CorruptRun, StoreError, StoreUnavailable

from .url import clean

__all__ = ["AsyncClient", "Client", "Cmd", "Pipe", "Script", "script"]

T = TypeVar("T")

SCRIPTS = ("write", "lease", "claim", "release", "quarantine", "unlink", "settle", "purge")


class Cmd(NamedTuple):
    """A command of the driver: ``client.<name>(*args)``."""

    name: str
    args: tuple[Any, ...]
    where: str = ""
    run_id: str | None = None


class Pipe(NamedTuple):
    """Commands sent in one round trip (not a transaction); answers the list of replies, a
    failed command's reply being its exception."""

    commands: tuple[tuple[str, tuple[Any, ...]], ...]


class Script(NamedTuple):
    """One of the store's Lua scripts (`SCRIPTS`), with its keys and arguments. With `wait`
    (replicas, milliseconds), sent with a ``WAIT`` on the same connection, in the same round
    trip: answers (the script's reply, the replicas that acknowledged)."""

    name: str
    keys: Sequence[str | bytes]
    args: Sequence[str | bytes]
    where: str = ""
    run_id: str | None = None
    wait: tuple[int, int] | None = None


@cache
def script(name: str) -> str:
    """The text of the Lua script `name` (shipped in this package's ``scripts/``)."""
    return resources.files(__package__).joinpath(f"scripts/{name}.lua").read_text()


class _Errors:
    """The driver's errors as the library's, and which of them to retry."""

    def __init__(self, where: str, retry_seconds: float) -> None:
        import redis  # the driver is imported only when a Redis store is built

        self.where = where
        self.retry_seconds = retry_seconds
        self.errors = redis.exceptions

    def retryable(self, exc: BaseException, deadline: float) -> bool:
        errors = self.errors
        if not isinstance(exc, errors.ConnectionError | errors.TimeoutError):
            return False
        return not isinstance(exc, errors.AuthenticationError) and time.monotonic() < deadline

    def translate(self, exc: BaseException, where: str, run_id: str | None) -> StoreError:
        errors = self.errors
        if isinstance(exc, errors.ResponseError):
            if "WRONGTYPE" in str(exc):
                return CorruptRun(where or self.where, "a key of the wrong type", run_id)
            return StoreError(f"Redis at {self.where} refused: {clean(exc)}")
        unreachable = (errors.ConnectionError, errors.TimeoutError, errors.RedisClusterException)
        if isinstance(exc, unreachable):
            return StoreUnavailable(f"Redis at {self.where}: {clean(exc)}")
        return StoreError(f"Redis at {self.where}: {clean(exc)}")

    def driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self.errors.RedisError | self.errors.RedisClusterException)


class Client:
    """redis-py's client with the store's retry policy and error translation.

    Args:
        driver: a ``redis.Redis`` or ``redis.cluster.RedisCluster``.
        where: how to name the server in errors (credentials masked).
        retry_seconds: for how long connection errors are retried before `StoreUnavailable`.
    """

    def __init__(self, driver: Any, where: str, retry_seconds: float) -> None:
        self.driver = driver
        self._errors = _Errors(where, retry_seconds)
        self._scripts = {name: driver.register_script(script(name)) for name in SCRIPTS}

    def call(self, operation: Callable[[], T], where: str = "", run_id: str | None = None) -> T:
        """Run `operation`, retrying connection errors with backoff; the driver's errors come
        out as the library's (`StoreUnavailable`, `CorruptRun`, `StoreError`). Every
        operation of the store is safe to retry: writes carry operation ids."""
        errors = self._errors
        deadline = time.monotonic() + errors.retry_seconds
        delay = 0.02
        while True:
            try:
                return operation()
            except Exception as exc:
                if errors.retryable(exc, deadline):
                    time.sleep(delay * (0.5 + random.random()))  # backoff: the server is away
                    delay = min(delay * 2, 1.0)
                    continue
                if errors.driver_error(exc):
                    raise errors.translate(exc, where, run_id) from exc
                raise

    def carry(self, effect: Cmd | Pipe | Script) -> Any:
        """Carry out a plan's Redis effect."""
        if type(effect) is Cmd:
            method = getattr(self.driver, effect.name)
            return self.call(lambda: method(*effect.args), effect.where, effect.run_id)
        if type(effect) is Script:
            return self.call(lambda: self._run(effect), effect.where, effect.run_id)
        assert type(effect) is Pipe
        return self.call(lambda: self._pipe(effect))

    def _run(self, effect: Script) -> Any:
        # EVALSHA directly (redis-py's Script.__call__ makes a slow check for pipelines), and
        # the script loaded again if the server lost it (SCRIPT FLUSH, a restart).
        found = self._scripts[effect.name]
        if effect.wait is not None:
            return self._waited(effect, found)
        try:
            return self.driver.evalsha(found.sha, len(effect.keys), *effect.keys, *effect.args)
        except self._errors.errors.NoScriptError:
            return found(keys=effect.keys, args=effect.args)

    def _waited(self, effect: Script, found: Any) -> tuple[Any, int]:
        # WAIT counts the replicas that have this connection's writes: one pipeline, so one
        # connection and one round trip.
        assert effect.wait is not None
        for _ in range(2):
            pipe = self.driver.pipeline(transaction=False)
            pipe.evalsha(found.sha, len(effect.keys), *effect.keys, *effect.args)
            pipe.execute_command("WAIT", *effect.wait)
            try:
                reply, acknowledged = pipe.execute()
                return reply, int(acknowledged)
            except self._errors.errors.NoScriptError:
                self.driver.script_load(found.script)
        raise StoreError(f"Redis at {self._errors.where} lost the store's scripts twice")

    def _pipe(self, effect: Pipe) -> list[Any]:
        pipe = self.driver.pipeline(transaction=False)
        for name, args in effect.commands:
            getattr(pipe, name)(*args)
        return list(pipe.execute(raise_on_error=False))


class AsyncClient:
    """`Client`, for redis-py's asyncio client: the same retries and errors, awaited."""

    def __init__(self, driver: Any, where: str, retry_seconds: float) -> None:
        self.driver = driver
        self._errors = _Errors(where, retry_seconds)
        self._scripts = {name: driver.register_script(script(name)) for name in SCRIPTS}

    async def call(
        self, operation: Callable[[], Awaitable[T]], where: str = "", run_id: str | None = None
    ) -> T:
        """`Client.call`, awaited."""
        errors = self._errors
        deadline = time.monotonic() + errors.retry_seconds
        delay = 0.02
        while True:
            try:
                return await operation()
            except Exception as exc:
                if errors.retryable(exc, deadline):
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 1.0)
                    continue
                if errors.driver_error(exc):
                    raise errors.translate(exc, where, run_id) from exc
                raise

    async def carry(self, effect: Cmd | Pipe | Script) -> Any:
        """Carry out a plan's Redis effect, awaited."""
        if type(effect) is Cmd:
            method = getattr(self.driver, effect.name)
            return await self.call(lambda: method(*effect.args), effect.where, effect.run_id)
        if type(effect) is Script:
            return await self.call(lambda: self._run(effect), effect.where, effect.run_id)
        assert type(effect) is Pipe
        return await self.call(lambda: self._pipe(effect))

    async def _run(self, effect: Script) -> Any:
        found = self._scripts[effect.name]
        if effect.wait is not None:
            return await self._waited(effect, found)
        try:
            return await self.driver.evalsha(
                found.sha, len(effect.keys), *effect.keys, *effect.args
            )
        except self._errors.errors.NoScriptError:
            return await found(keys=effect.keys, args=effect.args)

    async def _waited(self, effect: Script, found: Any) -> tuple[Any, int]:
        assert effect.wait is not None
        for _ in range(2):
            pipe = self.driver.pipeline(transaction=False)
            pipe.evalsha(found.sha, len(effect.keys), *effect.keys, *effect.args)
            pipe.execute_command("WAIT", *effect.wait)
            try:
                reply, acknowledged = await pipe.execute()
                return reply, int(acknowledged)
            except self._errors.errors.NoScriptError:
                await self.driver.script_load(found.script)
        raise StoreError(f"Redis at {self._errors.where} lost the store's scripts twice")

    async def _pipe(self, effect: Pipe) -> list[Any]:
        pipe = self.driver.pipeline(transaction=False)
        for name, args in effect.commands:
            getattr(pipe, name)(*args)
        return list(await pipe.execute(raise_on_error=False))

    async def close(self) -> None:
        """Close the connections of this client."""
        await self.driver.aclose()
