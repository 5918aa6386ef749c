"""`RedisStore`: runs in Redis (a single server or a Cluster), every change one atomic script.

Theory of operation. A run is a hash beside its indexes, all in one partition of the key
space and so in one Cluster slot (`keys` has the layout). Every write is one Lua script
(`scripts/write.lua`) that checks the store's epoch (a server restarted empty is noticed),
the operation id (a replayed write answers "duplicate"), the version (compare-and-set) and,
for a fenced commit, the lease; then writes the snapshot and moves the run between indexes,
all at once. The times the indexes order by come from the server's clock (`TIME`), and
`now()` answers with it too, so every process agrees on deadlines and leases, and no
writer's clock can stall a run.

What is found in an index and is not a run (junk, or an entry whose run was evicted or
deleted) is logged once, skipped, and removed from the index.

Nothing is ever unpickled: snapshots are JSON read by the library's own converter.
"""

from __future__ import annotations

import random
import re
import threading
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from statemachine.core.codec import encode_run, loads
from statemachine.core.errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    InvalidArgument,
    LeaseLost,
    RunBusy,
    RunExists,
    RunNotFound,
    StoreError,
    StoreReset,
    UnsafeStoreConfiguration,
)
from statemachine.core.record import RunRecord
from statemachine.core.runs import abandoned
from statemachine.store import (
    LOG,
    STATES,
    Lease,
    RetryPolicy,
    RunList,
    Store,
    check_commit,
    check_page,
    check_run_id,
    check_seconds,
    is_run_id,
    new_id,
    ready_delay,
    run_state,
    served,
)
from statemachine.store.logs import log_once

from .client import Client
from .keys import LAYOUT, RunKeys, parse_entry, partition, ready_key, state_entry, text
from .url import client_from_url

if TYPE_CHECKING:
    import redis
    import redis.cluster

__all__ = ["RedisConfigWarning", "RedisStore"]

_PREFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
_STATES = frozenset(STATES)
_TRUE = ("1", "true", "yes")
_CACHED = 10_000
_CLAIM_ROUNDS = 50


class RedisConfigWarning(UserWarning):
    """The Redis server is configured in a way that could lose what the store relies on."""


def _score(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


class RedisStore(Store):
    """Runs in Redis: one server, or a Cluster.

    Args:
        target: a URL (``redis://[user:password@]host:port/db``, ``rediss://`` for TLS; query
            options ``prefix``, ``partitions``, ``cluster=1``, ``lease_seconds``,
            ``retry_seconds``, ``allow_eviction=1``, ``max_run_bytes``, and any of
            redis-py's, such as ``ssl_ca_certs``), or an existing ``redis.Redis`` /
            ``redis.cluster.RedisCluster`` client.
        prefix: the key namespace (letters, digits, ``_ . : -``; no braces).
        partitions: how many partition hash tags to spread runs over (default 1 on a single
            server, 16 on a Cluster). Fixed for a prefix once set: stored under
            ``<prefix>:meta``.
        lease_seconds: how long an execution lease lasts without renewal (0.1 s to a day);
            `hold` renews it every third of that in a background thread.
        retry_seconds: for how long connection errors are retried (with backoff) before
            `StoreUnavailable` (up to an hour). Every operation is safe to retry.
        allow_eviction: open a server whose ``maxmemory-policy`` may evict runs
            (``allkeys-*``). Refused otherwise: such a server loses runs silently.
        max_run_bytes: the largest encoded run a commit writes (None: no limit).

    Raises:
        InvalidArgument: a bad URL, prefix or option.
        UnsafeStoreConfiguration: the server may evict runs, and `allow_eviction` is off.
        StoreUnavailable: no server answers.
    """

    def __init__(
        self,
        target: str | redis.Redis | redis.cluster.RedisCluster,
        *,
        prefix: str | None = None,
        partitions: int | None = None,
        lease_seconds: float | None = None,
        retry_seconds: float | None = None,
        allow_eviction: bool | None = None,
        max_run_bytes: int | None = Store.max_run_bytes,
    ) -> None:
        import redis  # the driver is imported only when a Redis store is built
        import redis.cluster

        options: dict[str, str] = {}
        self._owns_client = isinstance(target, str)
        if isinstance(target, str):
            driver, where, options = client_from_url(target)
        elif isinstance(target, redis.Redis | redis.cluster.RedisCluster):
            driver, where = target, repr(type(target).__name__)
        else:
            raise InvalidArgument(f"RedisStore needs a URL or a redis client, not {target!r}")
        self._cluster = isinstance(driver, redis.cluster.RedisCluster)
        self.prefix = prefix if prefix is not None else options.get("prefix", "hitl")
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise InvalidArgument(
                f"invalid key prefix {self.prefix!r}: 1-64 letters, digits, '_', '.', ':' or '-'"
            )
        self.lease_seconds = check_seconds(
            "lease_seconds", _number(lease_seconds, options.get("lease_seconds"), 30.0), 0.1, 86400
        )
        self.retry_seconds = check_seconds(
            "retry_seconds", _number(retry_seconds, options.get("retry_seconds"), 5.0), 0, 3600
        )
        self.max_run_bytes = (
            _int("max_run_bytes", options["max_run_bytes"])
            if "max_run_bytes" in options
            else max_run_bytes
        )
        if allow_eviction is None:
            allow_eviction = options.get("allow_eviction", "").lower() in _TRUE
        self.allow_eviction = bool(allow_eviction)
        self.client = Client(driver, where, self.retry_seconds)
        self._where = where
        # An operation id must outlive every retry of its write: those come within the retry
        # window after a first attempt failed (by the socket timeout, 10 s unless set).
        self._remember_ops = str(int(self.retry_seconds) + 600)
        self._run_keys: dict[str, RunKeys] = {}
        self.client.call(lambda: self._check_eviction_policy(allow_eviction))
        requested = partitions if partitions is not None else options.get("partitions")
        self.partitions, self.epoch = self.client.call(lambda: self._settle(requested))

    def __repr__(self) -> str:
        return f"RedisStore({self._where}, prefix={self.prefix!r})"

    # Keys, settings, the epoch

    def _tags(self) -> list[str]:
        return [f"{self.prefix}:{{p{n}}}" for n in range(self.partitions)]

    def _keys(self, run_id: str, workflow: str | None = None) -> RunKeys:
        """The run's keys; its workflow names its ready index, and is read once if unknown."""
        keys = self._run_keys.get(run_id)
        if keys is None:
            if workflow is None:
                workflow = self._workflow(run_id)
            if len(self._run_keys) >= _CACHED:
                self._run_keys.clear()
            tag = partition(self.prefix, self.partitions, run_id)
            keys = self._run_keys[run_id] = RunKeys.of(tag, run_id, workflow)
        return keys

    def _workflow(self, run_id: str) -> str:
        return text(self._field(run_id, "workflow"))

    def _run_key(self, run_id: str) -> str:
        return f"{partition(self.prefix, self.partitions, run_id)}:run:{run_id}"

    def _field(self, run_id: str, field: str) -> bytes:
        """A field of the run's hash. Raises `RunNotFound` (or `StoreReset`) when the run is
        gone, `CorruptRun` when its hash has no such field."""
        key = self._run_key(run_id)
        found = self.client.call(lambda: self.client.driver.hget(key, field), key, run_id)
        if found is None:
            if self.client.call(lambda: self.client.driver.exists(key), key, run_id):
                raise CorruptRun(key, f"the run's hash has no {field}", run_id)
            raise self._not_found(run_id)
        return found  # type: ignore[no-any-return]

    def _settle(self, requested: object) -> tuple[int, str]:
        meta = f"{self.prefix}:meta"
        wanted = (
            (16 if self._cluster else 1) if requested is None else _int("partitions", requested)
        )
        if not 1 <= wanted <= 1024:
            raise InvalidArgument("partitions must be between 1 and 1024")
        driver = self.client.driver
        stored, layout, epoch = driver.eval(
            self._script_text("settle"), 1, meta, wanted, LAYOUT, new_id()
        )
        if layout is None or text(layout) != LAYOUT:
            found = "an earlier one" if layout is None else f"layout {text(layout)}"
            raise StoreError(
                f"prefix {self.prefix!r} holds runs in {found} of keys; this version reads layout "
                f"{LAYOUT}: use another prefix"
            )
        actual = int(text(stored)) if text(stored).isdigit() else 0
        if not 1 <= actual <= 1024 or epoch is None:
            raise CorruptRun(meta, f"its partition count is {stored!r}, its epoch {epoch!r}")
        if requested is not None and actual != wanted:
            raise InvalidArgument(
                f"prefix {self.prefix!r} already uses {actual} partitions, not {wanted}"
            )
        epoch = text(epoch)
        for n in range(actual):  # each partition holds the epoch, for its writes to check
            key = f"{self.prefix}:{{p{n}}}:epoch"
            driver.set(key, epoch, nx=True)
            if text(driver.get(key)) != epoch:
                raise StoreReset(self._where, epoch, text(driver.get(key)))
        return actual, epoch

    @staticmethod
    def _script_text(name: str) -> str:
        from .client import script

        return script(name)

    def check_epoch(self) -> None:
        """Raise `StoreReset` if the store's data was lost since this object opened it (the
        server restarted empty, or the prefix was flushed). A store allowed to lose keys to
        eviction cannot tell, and does not check."""
        if self.allow_eviction:
            return
        meta = f"{self.prefix}:meta"
        found = self.client.call(lambda: self.client.driver.hget(meta, "epoch"), meta)
        if found is None or text(found) != self.epoch:
            raise StoreReset(self._where, self.epoch, None if found is None else text(found))

    def _not_found(self, run_id: str) -> StoreError:
        """`RunNotFound`, unless the whole store was lost: then `StoreReset`."""
        try:
            self.check_epoch()
        except StoreReset as reset:
            return reset
        return RunNotFound(run_id)

    def _check_eviction_policy(self, allowed: bool) -> None:
        try:
            answer = self.client.driver.config_get("maxmemory-policy")
        except Exception:  # CONFIG may be forbidden (ACLs, managed services): nothing to check
            return
        # One server answers {name: value}; a Cluster client may answer per node.
        replies = [answer] if "maxmemory-policy" in answer else list(answer.values())
        for reply in replies:
            policy = text(reply.get("maxmemory-policy", "noeviction"))
            if policy.startswith("allkeys") and not allowed:
                raise UnsafeStoreConfiguration(
                    f"Redis at {self._where} has maxmemory-policy {policy!r}: under memory "
                    "pressure it evicts runs and their indexes, silently. Set maxmemory-policy "
                    "noeviction, or open it with allow_eviction=1 if losing runs is acceptable."
                )
            if policy.startswith("volatile"):
                warnings.warn(
                    f"Redis maxmemory-policy is {policy!r}: under memory pressure the server may "
                    "evict the operation ids that make retried writes idempotent. Set "
                    "maxmemory-policy noeviction.",
                    RedisConfigWarning,
                    stacklevel=4,
                )
                return

    # The primitives

    def now(self) -> datetime:
        """The Redis server's clock, which every process using this store shares."""
        seconds, micros = self.client.call(self.client.driver.time)
        return datetime.fromtimestamp(seconds + micros / 1e6, UTC)

    def create(self, run: RunRecord) -> None:
        self._put(run, "create", -1, None)

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        check_commit(run, expected_version)
        self._put(run, "commit", expected_version, lease)

    def _put(
        self,
        run: RunRecord,
        mode: str,
        expected: int,
        lease: Lease | None,
        operation: str | None = None,
    ) -> str:
        """Write through the script; returns "ok", or "duplicate" for a replayed operation."""
        run_id = check_run_id(run.run_id)
        data = encode_run(run, self.max_run_bytes)
        keys = self._keys(run_id, run.workflow)
        gate = run.pending_gate
        deadline = None if gate is None else gate.deadline
        delay = ready_delay(run)
        state = run_state(run)
        if state not in _STATES:  # a paused run with no pending request: no index could list it
            raise InvalidArgument(f"run {run_id!r} is paused but no gate has a pending request")
        fields = (  # named in the script's first line
            run_id,
            "" if mode == "create" else str(expected),
            str(run.version),
            state,
            state_entry(state, run.updated_at, run_id),
            "" if deadline is None else _score(deadline),
            "" if delay is None else str(int(delay * 1000)),
            "1" if state == "failed" and delay is None else "",
            _score(run.created_at) if mode == "create" else "",
            "" if lease is None else f"{lease.fence} {lease.token}",
            self._remember_ops,
            "*" if self.allow_eviction else self.epoch,
        )
        args: list[str | bytes] = [data, "\x1f".join(fields)]
        if mode == "create":
            args.append(run.workflow)
        # A retry after a lost reply carries the same operation id, and answers "duplicate".
        write = keys.writing(operation or new_id())
        outcome = text(
            self.client.call(lambda: self.client.run("write", write, args), keys.run, run_id)
        )
        if outcome == "ok" or outcome == "duplicate":
            return outcome
        if outcome == "exists":
            raise RunExists(run_id)
        if outcome == "missing":
            raise self._not_found(run_id)
        if outcome == "fenced":
            raise LeaseLost(run_id)
        if outcome == "reset":
            self.check_epoch()
            raise StoreReset(self._where, self.epoch, None)
        stored = outcome.split()[-1]
        if not stored.isdigit():
            raise CorruptRun(keys.run, f"its version is {stored[:40]!r}", run_id)
        raise ConflictError(run_id, expected, int(stored))

    def load(self, run_id: str) -> RunRecord:
        return self._decode(run_id, self._field(check_run_id(run_id), "snapshot"))

    def version(self, run_id: str) -> int:
        found = text(self._field(check_run_id(run_id), "version"))
        if not found.isdigit():
            raise CorruptRun(self._run_key(run_id), f"its version is {found[:40]!r}", run_id)
        return int(found)

    def _decode(self, run_id: str, data: bytes) -> RunRecord:
        key = self._run_key(run_id)
        try:
            run = loads(data, RunRecord)
        except CodecError as exc:
            error = self.client.call(lambda: self.client.driver.hget(key, "error"), key)
            reason = str(exc) if error is None else f"{exc} (set aside: {text(error)})"
            raise CorruptRun(key, reason, run_id) from exc
        if run.run_id != run_id:
            raise CorruptRun(key, f"it holds run {run.run_id!r}", run_id)
        if run_id not in self._run_keys:
            self._keys(run_id, run.workflow)
        return run

    def _lease_call(self, keys: RunKeys, run_id: str, token: str, mode: str) -> tuple[str, int]:
        millis = str(int(self.lease_seconds * 1000))
        outcome, fence = self.client.call(
            lambda: self.client.run("lease", keys.lease, [run_id, token, millis, mode]), keys.run
        )
        return text(outcome), int(fence)

    def acquire(self, run_id: str) -> Lease:
        token = new_id()
        outcome, fence = self._lease_call(self._keys(check_run_id(run_id)), run_id, token, "hold")
        if outcome == "missing":
            raise self._not_found(run_id)
        if outcome == "busy":
            raise RunBusy(run_id)
        return Lease(run_id, token, fence)

    def release(self, lease: Lease) -> None:
        self._release_call(self._keys(lease.run_id), lease.run_id, lease.token)

    def _release_call(self, keys: RunKeys, run_id: str, token: str) -> str:
        release = partial(self.client.run, "release", keys.lease, [run_id, token])
        return text(self.client.call(release, keys.run))

    @contextmanager
    def working(self, lease: Lease) -> Iterator[Lease]:
        """Renew the lease every third of its length in a background thread while the body
        runs, then release it. If a renewal finds the lease lost, commits with it are refused
        from then on (`LeaseLost`)."""
        stop = threading.Event()
        keys = self._keys(lease.run_id)

        def heartbeat() -> None:
            while not stop.wait(self.lease_seconds / 3):
                try:
                    if self._lease_call(keys, lease.run_id, lease.token, "renew")[0] != "ok":
                        return
                except StoreError:
                    continue  # try again at the next beat; the fence protects the data

        beat = threading.Thread(target=heartbeat, name=f"lease-{lease.run_id}", daemon=True)
        beat.start()
        try:
            yield lease
        finally:
            stop.set()
            beat.join()
            self.release(lease)

    def run_ids(self) -> list[str]:
        """The ids in the ``runs`` indexes whose runs exist; junk and entries whose run is
        gone (evicted, deleted by hand) are logged once and removed."""
        ids: list[str] = []
        for tag in self._tags():
            key = f"{tag}:runs"
            members = self.client.call(partial(self.client.driver.zrange, key, 0, -1), key)
            found = self._valid(key, [text(member) for member in members])

            def exist(found: list[str] = found, tag: str = tag) -> list[Any]:
                pipe = self.client.driver.pipeline(transaction=False)
                for run_id in found:
                    pipe.exists(f"{tag}:run:{run_id}")
                return list(pipe.execute())

            for run_id, there in zip(found, self.client.call(exist) if found else [], strict=True):
                if there:
                    ids.append(run_id)
                else:
                    self.forget_dangling(run_id)
        return ids

    def _valid(self, key: str, members: list[str]) -> list[str]:
        """The members of index `key` that are run ids; junk is logged once and removed."""
        valid = []
        for member in members:
            if is_run_id(member):
                valid.append(member)
                continue
            log_once(LOG, f"{key}:{member}", "removing %r from %s: not a run id", member[:80], key)
            self.client.call(lambda m=member: self.client.driver.zrem(key, m), key)  # type: ignore[misc]
        return valid

    def forget_dangling(self, run_id: str) -> None:
        """Remove the entries of a run that is gone from the indexes that list it by id."""
        tag = partition(self.prefix, self.partitions, run_id)
        for index in ("runs", "deadlines", "leases", "dead"):
            self._unlink(tag, run_id, f"{tag}:{index}", run_id)

    def _unlink(self, tag: str, run_id: str, index: str, member: str) -> None:
        run = f"{tag}:run:{run_id}"
        self.client.call(lambda: self.client.run("unlink", [run, index], [member]), index)

    def quarantine(self, run_id: str, reason: str) -> None:
        """Set aside a run whose snapshot cannot be read: no claim returns it again, and it is
        listed among the dead letters with `reason`."""
        keys = self._keys(check_run_id(run_id))
        tag = keys.tag
        names = [keys.run, f"{tag}:states", f"{tag}:deadlines", keys.lease[2], f"{tag}:dead"]
        changed = state_entry("failed", self.now(), run_id).split("|")[1]
        arguments = [run_id, reason[:2000], changed]
        self.client.call(lambda: self.client.run("quarantine", names, arguments))

    # Work for workers, through the indexes

    def claim(
        self, now: datetime | None = None, *, workflows: Collection[str] | None = None
    ) -> Lease | None:
        """Take the lease of a run from the ready indexes of `workflows` (default: every
        workflow), runnable at `now` (default: the server's clock), or None."""
        names = served(workflows)
        at = str(int(self._at(now).timestamp() * 1000))
        tags = self._tags()
        random.shuffle(tags)  # workers spread over partitions instead of all queuing on one
        indexes = [
            (tag, workflow)
            for tag, here in zip(tags, self._workflows(tags, names), strict=True)
            for workflow in here
        ]
        for _ in range(_CLAIM_ROUNDS):
            dangling = False
            for _, run_id, workflow in self._ready(indexes, at):
                token = new_id()
                keys = self._keys(run_id, workflow)
                outcome, fence = self._lease_call(keys, run_id, token, "claim")
                if outcome == "ok":
                    return Lease(run_id, token, fence)
                dangling = dangling or outcome == "missing"
            if not dangling:
                return None  # nothing ready, or all taken by others meanwhile
            # Entries whose run is gone were removed just now: look again, so that entries
            # left by evicted runs never hide the live runs behind them.
        return None

    def _ready(self, indexes: list[tuple[str, str]], at: str) -> list[tuple[float, str, str]]:
        """The first few runnable entries of each ready index, in the order to claim them."""

        def fetch() -> list[Any]:
            pipe = self.client.driver.pipeline(transaction=False)
            for tag, workflow in indexes:
                pipe.zrangebyscore(ready_key(tag, workflow), "-inf", at, 0, 8, withscores=True)
            return list(pipe.execute())

        candidates = []
        for (tag, workflow), found in zip(
            indexes, self.client.call(fetch) if indexes else [], strict=True
        ):
            key = ready_key(tag, workflow)
            members = self._valid(key, [text(member) for member, _ in found])
            scores = {text(member): score for member, score in found}
            candidates += [(scores[run_id], run_id, workflow) for run_id in members]
        return sorted(candidates)

    def _workflows(self, tags: list[str], names: frozenset[str] | None) -> list[list[str]]:
        """The workflows whose ready indexes to look at, per partition."""
        if names is not None:
            return [sorted(names)] * len(tags)

        def fetch() -> list[Any]:
            pipe = self.client.driver.pipeline(transaction=False)
            for tag in tags:
                pipe.smembers(f"{tag}:workflows")
            return list(pipe.execute())

        return [sorted(text(name) for name in members) for members in self.client.call(fetch)]

    def reap(self, policy: RetryPolicy, now: datetime | None = None) -> list[str]:
        """Release every lease that ran out (by the server's clock), count the attempt, and
        make the run runnable again after its backoff (or dead-letter it)."""
        at = self._at(now)
        expired_before = str(int(self.now().timestamp() * 1000))
        reaped: list[str] = []
        for tag in self._tags():
            key = f"{tag}:leases"
            found = self.client.call(
                partial(self.client.driver.zrangebyscore, key, "-inf", expired_before, 0, 100), key
            )
            for run_id in self._valid(key, [text(member) for member in found]):
                try:
                    keys = self._keys(run_id)
                    if self._release_call(keys, run_id, "") != "released":
                        continue
                    self.update(
                        run_id,
                        lambda run: abandoned(
                            run, at, retry_at=policy.next_attempt(run.attempts + 1, at)
                        ),
                    )
                except RunNotFound:
                    self.forget_dangling(run_id)
                    continue
                except CorruptRun as exc:
                    log_once(LOG, f"{key}:{run_id}", "reap: setting aside run %s: %s", run_id, exc)
                    self.quarantine(run_id, str(exc))
                    continue
                reaped.append(run_id)
        return reaped

    def expire_due(self, now: datetime | None = None) -> list[str]:
        """Apply every due timeout, found through the deadline index in batches of 100."""
        self.check_epoch()  # every worker sweeps about once a second: it learns of a reset
        at = self._at(now)
        fired: list[str] = []
        for tag in self._tags():
            key = f"{tag}:deadlines"
            seen: set[str] = set()
            while True:
                due = self.client.call(
                    partial(self.client.driver.zrangebyscore, key, "-inf", _score(at), 0,
                            100 + len(seen)),
                    key,
                )  # fmt: skip
                batch = [m for m in self._valid(key, [text(m) for m in due]) if m not in seen]
                if not batch:
                    break
                for run_id in batch:
                    seen.add(run_id)
                    if self._expire_one(run_id, at):
                        fired.append(run_id)
        return fired

    # Listings, through the indexes

    def page(self, state: str | None = None, *, limit: int = 50, offset: int = 0) -> RunList:
        """Runs, most recently changed first: each partition's ``states`` index gives its top
        ``offset + limit`` of each state asked for, all in one pipelined round trip, so the cost
        follows the page, not the number of runs stored."""
        check_page(state, limit, offset)
        wanted = STATES if state is None else (state,)
        tags = self._tags()

        def fetch() -> list[Any]:
            pipe = self.client.driver.pipeline(transaction=False)
            for tag in tags:
                for each in wanted:  # entries "<state>|..." sort before "<state>}"
                    pipe.zrevrangebylex(
                        f"{tag}:states", f"({each}}}", f"[{each}|", 0, offset + limit
                    )
            return list(pipe.execute())

        entries: list[tuple[int, str, str, str]] = []
        found = iter(self.client.call(fetch))
        for tag in tags:
            key = f"{tag}:states"
            for _ in wanted:
                for member in next(found):
                    entry = text(member)
                    parsed = parse_entry(entry)
                    if parsed is None or not is_run_id(parsed[1]):
                        self._valid(key, [entry])  # junk: logged once, removed
                        continue
                    entries.append((parsed[0], parsed[1], tag, entry))
        entries.sort(reverse=True)
        window = entries[offset : offset + limit]
        return self._load_many(
            [(run_id, f"{tag}:states", entry) for _, run_id, tag, entry in window]
        )

    def dead(self, *, limit: int = 50, offset: int = 0) -> RunList:
        """Dead-lettered runs, most recently failed first, from the dead index."""
        scored: list[tuple[float, str, str]] = []
        for tag in self._tags():
            key = f"{tag}:dead"
            window = partial(
                self.client.driver.zrevrange, key, 0, offset + limit - 1, withscores=True
            )
            found = self.client.call(window, key)
            members = self._valid(key, [text(member) for member, _ in found])
            scores = {text(member): score for member, score in found}
            scored += [(scores[run_id], run_id, key) for run_id in members]
        scored.sort(reverse=True)
        return self._load_many(
            [(run_id, key, run_id) for _, run_id, key in scored[offset : offset + limit]]
        )

    def _load_many(self, wanted: list[tuple[str, str, str]]) -> RunList:
        """Load runs in one pipelined round trip. Each is (run id, the index it was found in,
        its entry there): an entry whose run is gone is removed, a run that cannot be read is
        listed in `unreadable`."""

        def fetch() -> list[Any]:
            pipe = self.client.driver.pipeline(transaction=False)
            for run_id, _, _ in wanted:
                pipe.hget(self._run_key(run_id), "snapshot")
            return list(pipe.execute(raise_on_error=False))  # a key of the wrong type: its run

        runs = RunList()
        for (run_id, index, entry), data in zip(
            wanted, self.client.call(fetch) if wanted else [], strict=True
        ):
            if data is None:
                tag = partition(self.prefix, self.partitions, run_id)
                self._unlink(tag, run_id, index, entry)
                continue
            try:
                if isinstance(data, Exception):
                    raise CorruptRun(self._run_key(run_id), "a key of the wrong type", run_id)
                runs.append(self._decode(run_id, data))
            except CorruptRun as exc:
                log_once(LOG, f"{index}:{run_id}", "listing skipped run %s: %s", run_id, exc)
                runs.unreadable.append(exc)
        return runs

    def close(self) -> None:
        """Close the connections this store opened (a client passed in is left open)."""
        if self._owns_client:
            self.client.driver.close()


def _int(name: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer, not {str(value)[:40]!r}") from None


def _number(given: float | None, from_url: str | None, default: float) -> object:
    if given is not None:
        return given
    if from_url is None:
        return default
    try:
        return float(from_url)
    except ValueError:
        return from_url  # refused, with its name, by the range check
