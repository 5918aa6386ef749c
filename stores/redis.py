"""`RedisStore`: runs in Redis (a single server or a Cluster), every change one atomic script.

Theory of operation. A run is a hash ``<prefix>:{p<N>}:run:<id>`` holding its snapshot (the
codec's JSON), version, state, deadline, and execution lease (owner, fence, lease_until).
Beside it, in the same partition ``{p<N>}`` and so in the same Cluster slot, live the
indexes: ``runs`` (every run, by creation), ``states`` (every run, by state and then by last
change: one sorted set read by lexical ranges), ``deadlines`` (paused runs, by deadline),
``ready`` (runnable runs), ``leases`` (held runs, by lease expiry), ``dead`` (dead-lettered
runs), and one ``op:<id>`` key per recent write (its operation id). A run's partition is
``crc32(run_id) % partitions``: one partition on a single server, several in a Cluster so
that runs spread over its nodes.

Every write is one Lua script (redis-py `Script`: EVALSHA, loaded again after SCRIPT FLUSH or
a restart) that checks the operation id (a replayed write answers "duplicate"), the version
(compare-and-set) and, for a fenced commit, the lease; then writes the snapshot and moves the
run between indexes, all at once. Times in scripts come from the server's clock (`TIME`), and
`now()` answers with it too, so every process agrees on deadlines and leases.

Nothing is ever unpickled: snapshots are JSON read by the library's own converter.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from statemachine.codec import dumps, loads
from statemachine.errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    InvalidArgument,
    LeaseLost,
    RunBusy,
    RunExists,
    RunNotFound,
    StoreError,
    StoreUnavailable,
)
from statemachine.record import RunRecord
from statemachine.runs import abandoned
from statemachine.store import (
    STATES,
    Lease,
    RetryPolicy,
    Store,
    check_commit,
    check_page,
    check_run_id,
    new_id,
    run_state,
    runnable_at,
)

if TYPE_CHECKING:
    import redis
    import redis.cluster
    from redis.commands.core import Script

__all__ = ["RedisConfigWarning", "RedisStore"]

T = TypeVar("T")

_PREFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
_OUR_QUERY = ("prefix", "partitions", "cluster", "lease_seconds", "retry_seconds")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_STATES = frozenset(STATES)
_FIELDS = "\\31".join(["([^\\31]*)"] * 11)

# KEYS: 1 run, 2 runs, 3 states, 4 deadlines, 5 ready, 6 dead, 7 op:<operation id>.
# ARGV: 1 snapshot, 2 the other fields, joined by \x1f (each command argument costs the driver
#       about a microsecond), as named in the script's first line.
# Redis does not roll a script back when a command in it fails (a key of the wrong type), so
# everything that can refuse the write comes before the first change, the run's hash is
# written after its indexes, and the operation id is recorded last: a write that failed half
# way is never taken for applied by its retry. The id is looked up only when the write is
# refused: an applied write moved the version on (or created the run), so its retry is always
# refused, and then answers "duplicate". Each index entry mirrors a field of the run's
# hash (entry, deadline, ready), so the script reads the fields once and touches only the
# entries that change. Answers are status replies (one line to parse): ok, duplicate, exists,
# missing, fenced, conflict <version>.
_WRITE = f"""
local id, expected, version, state, entry, deadline, ready, dead, created, lease, keep =
  string.match(ARGV[2], '^{_FIELDS}$')
local function refuse(answer)
  if redis.call('EXISTS', KEYS[7]) == 1 then answer = 'duplicate' end
  return {{ok = answer}}
end
local old = {{}}
if expected == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return refuse('exists') end
else
  old = redis.call('HMGET', KEYS[1], 'version', 'state', 'entry', 'deadline', 'ready', 'owner',
                   'lease_until', 'fence')
  if not old[1] then return refuse('missing') end
end
local owned = old[6] and old[6] ~= ''
local held = false
if owned then
{_NOW}
  held = tonumber(old[7] or '0') >= now
end
if expected ~= '' then
  -- A holder that lost its lease is told so first, whatever happened to the run since.
  if lease ~= '' and not (held and lease == (old[8] or '') .. ' ' .. old[6]) then
    return refuse('fenced')
  end
  if old[1] ~= expected then return refuse('conflict ' .. old[1]) end
end
if entry ~= old[3] then
  if old[3] then redis.call('ZREM', KEYS[3], old[3]) end
  redis.call('ZADD', KEYS[3], 0, entry)
end
if deadline ~= '' then
  if deadline ~= old[4] then redis.call('ZADD', KEYS[4], deadline, id) end
elseif old[4] and old[4] ~= '' then
  redis.call('ZREM', KEYS[4], id)
end
-- A held run stays out of the ready index: its release (or its reaping) puts it back. A claim
-- took it out; otherwise an unchanged entry stands.
if ready ~= '' and not held then
  if ready ~= old[5] or owned then redis.call('ZADD', KEYS[5], ready, id) end
elseif old[5] and old[5] ~= '' then
  redis.call('ZREM', KEYS[5], id)
end
if dead ~= '' then
  redis.call('ZADD', KEYS[6], dead, id)
elseif old[2] == 'failed' then
  redis.call('ZREM', KEYS[6], id)
end
if expected == '' then redis.call('ZADD', KEYS[2], created, id) end
redis.call('HSET', KEYS[1], 'version', version, 'snapshot', ARGV[1], 'state', state,
           'entry', entry, 'deadline', deadline, 'ready', ready)
redis.call('SET', KEYS[7], version, 'EX', keep)
return {{ok = 'ok'}}
"""

# The version of the key layout, kept in <prefix>:meta with the partition count, so that a
# later layout can tell runs it cannot read instead of misreading them.
_LAYOUT = "2"

# KEYS: 1 meta. ARGV: 1 partitions, 2 layout. A new prefix gets both; the stored pair answers.
_SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'partitions', ARGV[1], 'layout', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'partitions', 'layout')
"""

# KEYS: 1 run, 2 leases, 3 ready. ARGV: 1 run id, 2 token, 3 lease milliseconds,
#       4 mode: hold (this run), claim (this run, if it is still ready), renew.
_LEASE = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {{'missing', 0}} end
{_NOW}
local lease = redis.call('HMGET', KEYS[1], 'owner', 'lease_until', 'fence')
local mine = lease[1] == ARGV[2]
local live = tonumber(lease[2] or '0') >= now
if ARGV[4] == 'renew' then
  if not (mine and live) then return {{'lost', 0}} end
elseif lease[1] and lease[1] ~= '' and not mine and live then
  return {{'busy', 0}}
elseif ARGV[4] == 'claim' and not redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return {{'gone', 0}}
end
local fence = tonumber(lease[3] or '0')
if not mine then fence = redis.call('HINCRBY', KEYS[1], 'fence', 1) end
local expires = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'lease_until', expires)
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return {{'ok', fence}}
"""

# KEYS: 1 run, 2 leases, 3 ready. ARGV: 1 run id, 2 token, or '' to reap an expired lease.
_RELEASE = f"""
{_NOW}
local lease = redis.call('HMGET', KEYS[1], 'owner', 'lease_until', 'ready')
if ARGV[2] == '' then
  if not lease[1] or lease[1] == '' then
    redis.call('ZREM', KEYS[2], ARGV[1])
    return 'idle'
  end
  if tonumber(lease[2] or '0') >= now then return 'live' end
elseif lease[1] ~= ARGV[2] then
  return 'not held'
end
redis.call('HSET', KEYS[1], 'owner', '', 'lease_until', 0)
redis.call('ZREM', KEYS[2], ARGV[1])
if lease[3] and lease[3] ~= '' then redis.call('ZADD', KEYS[3], lease[3], ARGV[1]) end
return 'released'
"""


class _RunKeys(NamedTuple):
    """A run's keys: its hash, the indexes a write may touch, those a lease touches."""

    tag: str
    run: str
    write: list[bytes]  # encoded once: the driver checks the type of every argument it encodes
    lease: list[str]

    @classmethod
    def of(cls, tag: str, run_id: str) -> _RunKeys:
        run = f"{tag}:run:{run_id}"
        indexes = ("runs", "states", "deadlines", "ready", "dead")
        write = [run.encode(), *(f"{tag}:{name}".encode() for name in indexes)]
        return cls(tag, run, write, [run, f"{tag}:leases", f"{tag}:ready"])


class RedisConfigWarning(UserWarning):
    """The Redis server is configured in a way that could lose runs."""


def _score(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _state_entry(state: str, changed_at: datetime, run_id: str) -> str:
    """The run's member of the ``states`` index: one sorted set ordered by state, then by the
    time of the last change (microseconds since year 1, fixed width), then by run id."""
    return f"{state}|{(changed_at - _YEAR_ONE) // _MICROSECOND:018d}|{run_id}"


def _parse_entry(entry: object) -> tuple[int, str]:
    _, changed, run_id = _text(entry).split("|", 2)
    return int(changed), run_id


class RedisStore(Store):
    """Runs in Redis: one server, or a Cluster.

    Args:
        target: a URL (``redis://[user:password@]host:port/db``, ``rediss://`` for TLS; query
            options ``prefix``, ``partitions``, ``cluster=1``, ``lease_seconds``,
            ``retry_seconds``, and any of redis-py's, such as ``ssl_ca_certs``), or an
            existing ``redis.Redis`` / ``redis.cluster.RedisCluster`` client.
        prefix: the key namespace (letters, digits, ``_ . : -``; no braces).
        partitions: how many partition hash tags to spread runs over (default 1 on a single
            server, 16 on a Cluster). Fixed for a prefix once set: stored under
            ``<prefix>:meta``.
        lease_seconds: how long an execution lease lasts without renewal; `hold` renews it
            every third of that in a background thread.
        retry_seconds: for how long connection errors are retried (with backoff) before
            `StoreUnavailable`. Every operation is safe to retry: writes carry operation ids.

    Raises:
        InvalidArgument: a bad URL, prefix or option.
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
    ) -> None:
        import redis  # the driver is imported only when a Redis store is built
        import redis.cluster

        self._redis = redis
        options: dict[str, str] = {}
        self._owns_client = isinstance(target, str)
        if isinstance(target, str):
            self._client, self._where, options = _client_from_url(target)
        elif isinstance(target, redis.Redis | redis.cluster.RedisCluster):
            self._client, self._where = target, repr(type(target).__name__)
        else:
            raise InvalidArgument(f"RedisStore needs a URL or a redis client, not {target!r}")
        self._cluster = isinstance(self._client, redis.cluster.RedisCluster)
        self.prefix = prefix if prefix is not None else options.get("prefix", "hitl")
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise InvalidArgument(
                f"invalid key prefix {self.prefix!r}: 1-64 letters, digits, '_', '.', ':' or '-'"
            )
        self.lease_seconds = _positive(
            "lease_seconds", lease_seconds, options.get("lease_seconds"), 30.0
        )
        self.retry_seconds = _positive(
            "retry_seconds", retry_seconds, options.get("retry_seconds"), 5.0
        )
        requested = partitions if partitions is not None else options.get("partitions")
        self._key_cache: dict[str, _RunKeys] = {}
        self._write = self._client.register_script(_WRITE)
        self._lease = self._client.register_script(_LEASE)
        self._release = self._client.register_script(_RELEASE)
        # An operation id must outlive every retry of its write: those come within the retry
        # window after a first attempt failed (by the socket timeout, 10 s unless set).
        self._remember_ops = str(int(self.retry_seconds) + 600)
        self.partitions = self._call(lambda: self._settle_partitions(requested))
        self._check_eviction_policy()

    def __repr__(self) -> str:
        return f"RedisStore({self._where}, prefix={self.prefix!r})"

    # Keys

    def _tag(self, run_id: str) -> str:
        partition = zlib.crc32(run_id.encode()) % self.partitions
        return f"{self.prefix}:{{p{partition}}}"

    def _keys(self, run_id: str) -> _RunKeys:
        keys = self._key_cache.get(run_id)
        if keys is None:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            keys = self._key_cache[run_id] = _RunKeys.of(self._tag(run_id), run_id)
        return keys

    def _partition_tags(self) -> list[str]:
        return [f"{self.prefix}:{{p{n}}}" for n in range(self.partitions)]

    def _settle_partitions(self, requested: object) -> int:
        meta = f"{self.prefix}:meta"
        default = 16 if self._cluster else 1
        wanted = default if requested is None else _int("partitions", requested)
        if not 1 <= wanted <= 1024:
            raise InvalidArgument("partitions must be between 1 and 1024")
        stored, layout = self._client.eval(_SETTLE, 1, meta, wanted, _LAYOUT)
        if _text(layout) != _LAYOUT:
            found = "an earlier one" if layout is None else f"layout {_text(layout)}"
            raise StoreError(
                f"prefix {self.prefix!r} holds runs in {found} of keys; this version reads layout "
                f"{_LAYOUT}: use another prefix"
            )
        try:
            actual = int(stored)
        except (TypeError, ValueError):
            raise CorruptRun(meta, f"its partition count is {stored!r}") from None
        if requested is not None and actual != wanted:
            raise InvalidArgument(
                f"prefix {self.prefix!r} already uses {actual} partitions, not {wanted}"
            )
        return actual

    def _check_eviction_policy(self) -> None:
        try:
            answer = self._client.config_get("maxmemory-policy")
        except self._redis.RedisError:
            return  # CONFIG may be forbidden (ACLs, managed services): nothing to check
        # One server answers {name: value}; a Cluster client may answer per node.
        replies = [answer] if "maxmemory-policy" in answer else list(answer.values())
        for reply in replies:
            policy = _text(reply.get("maxmemory-policy", "noeviction"))
            if policy != "noeviction":
                warnings.warn(
                    f"Redis maxmemory-policy is {policy!r}: under memory pressure the server may "
                    "evict runs or their indexes. Set maxmemory-policy noeviction.",
                    RedisConfigWarning,
                    stacklevel=3,
                )
                return

    # Errors and retries

    def _call(self, operation: Callable[[], T], where: str = "") -> T:
        """Run `operation`, retrying connection errors with backoff; wrap driver errors."""
        errors = self._redis.exceptions
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.02
        while True:
            try:
                return operation()
            except (errors.ConnectionError, errors.TimeoutError) as exc:
                if isinstance(exc, errors.AuthenticationError) or time.monotonic() >= deadline:
                    raise StoreUnavailable(f"Redis at {self._where}: {_clean(exc)}") from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
            except errors.ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    raise CorruptRun(where or self._where, "a key of the wrong type") from exc
                raise StoreError(f"Redis at {self._where} refused: {_clean(exc)}") from exc
            except errors.RedisError as exc:
                raise StoreError(f"Redis at {self._where}: {_clean(exc)}") from exc

    # The four primitives

    def now(self) -> datetime:
        """The Redis server's clock, which every process using this store shares."""
        seconds, micros = self._call(self._client.time)
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
        keys = self._keys(run_id)
        gate = run.pending_gate
        deadline = None if gate is None else gate.deadline
        ready = runnable_at(run)
        state = run_state(run)
        if state not in _STATES:  # a paused run with no pending request: no index could list it
            raise InvalidArgument(f"run {run_id!r} is paused but no gate has a pending request")
        fields = (  # named in the script's first line
            run_id,
            "" if mode == "create" else str(expected),
            str(run.version),
            state,
            _state_entry(state, run.updated_at, run_id),
            "" if deadline is None else _score(deadline),
            "" if ready is None else _score(ready),
            _score(run.updated_at) if state == "failed" and ready is None else "",
            _score(run.created_at) if mode == "create" else "",
            "" if lease is None else f"{lease.fence} {lease.token}",
            self._remember_ops,
        )
        args = [dumps(run), "\x1f".join(fields)]
        # A retry after a lost reply carries the same operation id, and answers "duplicate".
        write = [*keys.write, f"{keys.tag}:op:{operation or new_id()}".encode()]
        outcome = _text(self._call(lambda: self._evalsha(self._write, write, args), keys.run))
        if outcome == "ok" or outcome == "duplicate":
            return outcome
        if outcome == "exists":
            raise RunExists(run_id)
        if outcome == "missing":
            raise RunNotFound(run_id)
        if outcome == "fenced":
            raise LeaseLost(run_id)
        raise ConflictError(run_id, expected, int(outcome.split()[1]))

    def _evalsha(self, script: Script, keys: Sequence[str | bytes], args: list[str]) -> Any:
        """Run `script` (as its `__call__` would, minus a slow check for pipelines), loading it
        again if the server lost it (SCRIPT FLUSH, a restart)."""
        try:
            return self._client.evalsha(script.sha, len(keys), *keys, *args)
        except self._redis.exceptions.NoScriptError:
            return script(keys=keys, args=args)

    def load(self, run_id: str) -> RunRecord:
        key = self._keys(check_run_id(run_id)).run
        data = self._call(lambda: self._client.hget(key, "snapshot"), key)
        if data is None:
            if self._call(lambda: self._client.exists(key), key):
                raise CorruptRun(key, "the run's hash has no snapshot")
            raise RunNotFound(run_id)
        return self._decode(run_id, data)

    def version(self, run_id: str) -> int:
        key = self._keys(check_run_id(run_id)).run
        found = self._call(lambda: self._client.hget(key, "version"), key)
        if found is None:
            return self.load(run_id).version  # raises RunNotFound, or CorruptRun for junk
        return int(found)

    def _decode(self, run_id: str, data: bytes) -> RunRecord:
        key = self._keys(run_id).run
        try:
            run = loads(data, RunRecord)
        except CodecError as exc:
            raise CorruptRun(key, str(exc)) from exc
        if run.run_id != run_id:
            raise CorruptRun(key, f"it holds run {run.run_id!r}")
        return run

    def _lease_call(self, run_id: str, token: str, mode: str) -> tuple[str, int]:
        keys = self._keys(run_id)
        millis = str(int(self.lease_seconds * 1000))
        outcome, fence = self._call(
            lambda: self._evalsha(self._lease, keys.lease, [run_id, token, millis, mode]),
            keys.run,
        )
        return _text(outcome), int(fence)

    def acquire(self, run_id: str) -> Lease:
        token = new_id()
        outcome, fence = self._lease_call(check_run_id(run_id), token, "hold")
        if outcome == "missing":
            raise RunNotFound(run_id)
        if outcome == "busy":
            raise RunBusy(run_id)
        return Lease(run_id, token, fence)

    def release(self, lease: Lease) -> None:
        self._release_call(lease.run_id, lease.token)

    def _release_call(self, run_id: str, token: str) -> str:
        keys = self._keys(run_id)
        release = partial(self._evalsha, self._release, keys.lease, [run_id, token])
        outcome = self._call(release, keys.run)
        return _text(outcome)

    @contextmanager
    def working(self, lease: Lease) -> Iterator[Lease]:
        """Renew the lease every third of its length in a background thread while the body
        runs, then release it. If a renewal finds the lease lost, commits with it are refused
        from then on (`LeaseLost`)."""
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(self.lease_seconds / 3):
                try:
                    if self._lease_call(lease.run_id, lease.token, "renew")[0] != "ok":
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

    def claim(self, now: datetime | None = None) -> Lease | None:
        """Take the lease of a run from the ready index (runnable at `now`), or None."""
        at = _score(self._at(now))
        tags = self._partition_tags()
        random.shuffle(tags)  # workers spread over partitions instead of all queuing on one
        for tag in tags:
            key = f"{tag}:ready"
            ready = self._call(partial(self._client.zrangebyscore, key, "-inf", at, 0, 8), key)
            for member in ready:
                run_id = _text(member)
                token = new_id()
                outcome, fence = self._lease_call(run_id, token, "claim")
                if outcome == "ok":
                    return Lease(run_id, token, fence)
        return None

    def reap(self, policy: RetryPolicy, now: datetime | None = None) -> list[str]:
        """Release every lease that ran out (by the server's clock), count the attempt, and
        make the run runnable again after its backoff (or dead-letter it)."""
        at = self._at(now)
        expired_before = repr(int(self.now().timestamp() * 1000))
        reaped: list[str] = []
        for tag in self._partition_tags():
            key = f"{tag}:leases"
            expired = self._call(
                partial(self._client.zrangebyscore, key, "-inf", expired_before, 0, 100), key
            )
            for member in expired:
                run_id = _text(member)
                if self._release_call(run_id, "") != "released":
                    continue
                self.update(
                    run_id,
                    lambda run: abandoned(
                        run, at, retry_at=policy.next_attempt(run.attempts + 1, at)
                    ),
                )
                reaped.append(run_id)
        return reaped

    def run_ids(self) -> list[str]:
        ids: list[str] = []
        for tag in self._partition_tags():
            members = self._call(partial(self._client.zrange, f"{tag}:runs", 0, -1))
            ids.extend(_text(member) for member in members)
        return ids

    # Faster paths through the indexes

    def page(
        self, state: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[RunRecord]:
        """Runs, most recently changed first: each partition's ``states`` index gives its top
        ``offset + limit`` of each state asked for, all in one pipelined round trip, so the cost
        follows the page, not the number of runs stored."""
        check_page(state, limit, offset)
        wanted = STATES if state is None else (state,)

        def fetch() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for tag in self._partition_tags():
                for each in wanted:  # entries "<state>|..." sort before "<state>}"
                    pipe.zrevrangebylex(
                        f"{tag}:states", f"({each}}}", f"[{each}|", 0, offset + limit
                    )
            return list(pipe.execute())

        entries = sorted(_parse_entry(entry) for top in self._call(fetch) for entry in top)
        entries.reverse()
        return self._load_many([run_id for _, run_id in entries[offset : offset + limit]])

    def dead(self, *, limit: int = 50, offset: int = 0) -> list[RunRecord]:
        """Dead-lettered runs, most recently failed first, from the dead index."""
        scored: list[tuple[float, str]] = []
        for tag in self._partition_tags():
            key = f"{tag}:dead"
            window = partial(self._client.zrevrange, key, 0, offset + limit - 1, withscores=True)
            scored.extend((score, _text(member)) for member, score in self._call(window, key))
        scored.sort(reverse=True)
        return self._load_many([run_id for _, run_id in scored[offset : offset + limit]])

    def _load_many(self, run_ids: list[str]) -> list[RunRecord]:
        """Load runs in one pipelined round trip (a run deleted meanwhile is left out)."""

        def fetch() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for run_id in run_ids:
                pipe.hget(self._keys(run_id).run, "snapshot")
            return list(pipe.execute())

        runs = []
        for run_id, data in zip(run_ids, self._call(fetch), strict=True):
            if data is not None:
                runs.append(self._decode(run_id, data))
        return runs

    def expire_due(self, now: datetime | None = None) -> list[str]:
        """Apply every due timeout, found through the deadline index in batches of 100."""
        at = self._at(now)
        fired: list[str] = []
        for tag in self._partition_tags():
            seen: set[str] = set()
            while True:
                key = f"{tag}:deadlines"
                due = self._call(
                    partial(self._client.zrangebyscore, key, "-inf", _score(at), 0, 100 + len(seen))
                )
                batch = [_text(member) for member in due if _text(member) not in seen]
                if not batch:
                    break
                for run_id in batch:
                    seen.add(run_id)
                    if self._expire_one(run_id, at):
                        fired.append(run_id)
        return fired

    def close(self) -> None:
        """Close the connections this store opened (a client passed in is left open)."""
        if self._owns_client:
            self._client.close()


def _client_from_url(url: str) -> tuple[Any, str, dict[str, str]]:
    import redis
    import redis.cluster
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise InvalidArgument("a Redis store URL starts with redis:// or rediss://")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    ours = {name: query.pop(name) for name in _OUR_QUERY if name in query}
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    safe = urlunsplit(
        (parts.scheme, _mask(parts.username, parts.password) + netloc, parts.path, "", "")
    )
    driver_url = urlunsplit(parts._replace(query=urlencode(query)))
    # Retries are ours (they know which writes are safe to repeat); timeouts keep a stopped
    # server from hanging a caller forever.
    settings: dict[str, Any] = {"retry": Retry(NoBackoff(), 0)}
    if "socket_timeout" not in query:
        settings["socket_timeout"] = 10.0
    if "socket_connect_timeout" not in query:
        settings["socket_connect_timeout"] = 5.0
    try:
        if ours.get("cluster", "").lower() in ("1", "true", "yes"):
            client: Any = redis.cluster.RedisCluster.from_url(driver_url, **settings)
        else:
            client = redis.Redis.from_url(driver_url, **settings)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"invalid Redis URL {safe}: {_clean(exc)}") from None
    except redis.RedisError as exc:
        raise StoreUnavailable(f"Redis at {safe}: {_clean(exc)}") from None
    return client, repr(safe), ours


def _mask(username: str | None, password: str | None) -> str:
    if password is not None:
        return f"{username or ''}:***@"
    return f"{username}@" if username else ""


def _clean(exc: BaseException) -> str:
    """The driver's message, with anything that looks like credentials in a URL masked."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", str(exc))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(name: str, value: object) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer, not {value!r}") from None
    return number


def _positive(name: str, given: float | None, from_url: str | None, default: float) -> float:
    value: object = given if given is not None else from_url if from_url is not None else default
    try:
        number = float(str(value))
    except ValueError:
        raise InvalidArgument(f"{name} must be a number, not {value!r}") from None
    if not 0 < number < math.inf:
        raise InvalidArgument(f"{name} must be a positive number of seconds, not {value!r}")
    return number
