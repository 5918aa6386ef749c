"""`RedisStore`: runs in Redis (a single server or a Cluster), every change one atomic script.

Theory of operation. A run is a hash ``<prefix>:{p<N>}:run:<id>`` holding its snapshot (the
codec's JSON), version, state, deadline, and execution lease (owner, fence, lease_until).
Beside it, in the same partition ``{p<N>}`` and so in the same Cluster slot, live the
indexes: ``runs`` (every run, by creation), ``state:<state>`` (one per entry of `STATES`, by
last change), ``deadlines`` (paused runs, by deadline), ``ready`` (runnable runs), ``leases``
(held runs, by lease expiry), and ``ops:<id>`` (operation ids already applied). A run's
partition is ``crc32(run_id) % partitions``: one partition on a single server, several in a
Cluster so that runs spread over its nodes.

Every write is one Lua script (redis-py `Script`: EVALSHA, loaded again after SCRIPT FLUSH or
a restart) that checks the operation id (a replayed write answers "duplicate"), the version
(compare-and-set) and, for a fenced commit, the lease; then writes the snapshot and moves the
run between indexes, all at once. Times in scripts come from the server's clock (`TIME`), and
`now()` answers with it too, so every process agrees on deadlines and leases.

Nothing is ever unpickled: snapshots are JSON read by the library's own converter.
"""

from __future__ import annotations

import random
import re
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
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
from statemachine.record import RunRecord, RunStatus
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

__all__ = ["RedisConfigWarning", "RedisStore"]

T = TypeVar("T")

_PREFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
_OUR_QUERY = ("prefix", "partitions", "cluster", "lease_seconds", "retry_seconds")

_STATE_KEYS = ", ".join(f"{state}={8 + n}" for n, state in enumerate(STATES))

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: 1 run, 2 ops, 3 runs, 4 deadlines, 5 ready, 6 leases, 7 dead, 8.. state:<s> (STATES).
# ARGV: 1 run id, 2 mode (create | commit), 3 expected version, 4 new version, 5 snapshot,
#       6 state, 7 deadline score or '', 8 ready score or '', 9 operation id, 10 changed-at
#       score, 11 created-at score, 12 fence or '', 13 lease token or '', 14 dead (1 | 0).
_WRITE = f"""
local slot = {{{_STATE_KEYS}}}
local id = ARGV[1]
local done = redis.call('HGET', KEYS[2], ARGV[9])
if done then return {{'duplicate', done}} end
if ARGV[2] == 'create' and redis.call('EXISTS', KEYS[1]) == 1 then return {{'exists', ''}} end
{_NOW}
local current = redis.call('HGET', KEYS[1], 'version')
local lease = redis.call('HMGET', KEYS[1], 'fence', 'owner', 'lease_until')
local held = lease[2] and lease[2] ~= '' and tonumber(lease[3] or '0') >= now
if ARGV[2] ~= 'create' then
  if not current then return {{'missing', ''}} end
  -- A holder that lost its lease is told so first, whatever happened to the run since.
  if ARGV[12] ~= '' and not (held and lease[1] == ARGV[12] and lease[2] == ARGV[13]) then
    return {{'fenced', current}}
  end
  if current ~= ARGV[3] then return {{'conflict', current}} end
end
if not slot[ARGV[6]] then return redis.error_reply('unknown state ' .. ARGV[6]) end
local old = redis.call('HGET', KEYS[1], 'state')
if old and slot[old] then redis.call('ZREM', KEYS[slot[old]], id) end
redis.call('HSET', KEYS[1], 'version', ARGV[4], 'snapshot', ARGV[5], 'state', ARGV[6],
           'deadline', ARGV[7], 'ready', ARGV[8])
redis.call('ZADD', KEYS[slot[ARGV[6]]], ARGV[10], id)
if ARGV[7] == '' then
  redis.call('ZREM', KEYS[4], id)
else
  redis.call('ZADD', KEYS[4], ARGV[7], id)
end
-- A held run stays out of the ready index: its release (or its reaping) puts it back.
if ARGV[8] == '' or held then
  redis.call('ZREM', KEYS[5], id)
else
  redis.call('ZADD', KEYS[5], ARGV[8], id)
end
if ARGV[14] == '1' then
  redis.call('ZADD', KEYS[7], ARGV[10], id)
else
  redis.call('ZREM', KEYS[7], id)
end
if ARGV[2] == 'create' then redis.call('ZADD', KEYS[3], ARGV[11], id) end
redis.call('HSET', KEYS[2], ARGV[9], ARGV[4])
redis.call('EXPIRE', KEYS[2], 86400)
return {{'ok', ARGV[4]}}
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


class RedisConfigWarning(UserWarning):
    """The Redis server is configured in a way that could lose runs."""


def _score(moment: datetime) -> str:
    return repr(round(moment.timestamp(), 6))


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
        self._key_cache: dict[str, list[str]] = {}
        self._write = self._client.register_script(_WRITE)
        self._lease = self._client.register_script(_LEASE)
        self._release = self._client.register_script(_RELEASE)
        self.partitions = self._call(lambda: self._settle_partitions(requested))
        self._check_eviction_policy()

    def __repr__(self) -> str:
        return f"RedisStore({self._where}, prefix={self.prefix!r})"

    # Keys

    def _tag(self, run_id: str) -> str:
        partition = zlib.crc32(run_id.encode()) % self.partitions
        return f"{self.prefix}:{{p{partition}}}"

    def _keys(self, run_id: str) -> list[str]:
        keys = self._key_cache.get(run_id)
        if keys is None:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            keys = self._key_cache[run_id] = self._make_keys(run_id)
        return keys

    def _make_keys(self, run_id: str) -> list[str]:
        tag = self._tag(run_id)
        return [
            f"{tag}:run:{run_id}",
            f"{tag}:ops:{run_id}",
            f"{tag}:runs",
            f"{tag}:deadlines",
            f"{tag}:ready",
            f"{tag}:leases",
            f"{tag}:dead",
            *(f"{tag}:state:{state}" for state in STATES),
        ]

    def _partition_tags(self) -> list[str]:
        return [f"{self.prefix}:{{p{n}}}" for n in range(self.partitions)]

    def _settle_partitions(self, requested: object) -> int:
        meta = f"{self.prefix}:meta"
        default = 16 if self._cluster else 1
        wanted = default if requested is None else _int("partitions", requested)
        if not 1 <= wanted <= 1024:
            raise InvalidArgument("partitions must be between 1 and 1024")
        self._client.hsetnx(meta, "partitions", wanted)
        stored = self._client.hget(meta, "partitions")
        actual = int(stored) if stored is not None else wanted
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
        deadline = run.pending_gate.deadline if run.pending_gate else None
        ready = runnable_at(run)
        dead = run.status is RunStatus.failed and run.retry_at is None
        args = [
            run_id,
            mode,
            str(expected),
            str(run.version),
            dumps(run),
            run_state(run),
            "" if deadline is None else _score(deadline),
            "" if ready is None else _score(ready),
            operation or new_id(),  # a retry after a lost reply answers "duplicate"
            _score(run.updated_at),
            _score(run.created_at),
            "" if lease is None else str(lease.fence),
            "" if lease is None else lease.token,
            "1" if dead else "0",
        ]
        outcome, found = self._call(lambda: self._write(keys=keys, args=args), keys[0])
        outcome = _text(outcome)
        if outcome in ("ok", "duplicate"):
            return outcome
        actual = int(found) if found not in (b"", "", None) else None
        if outcome == "exists":
            raise RunExists(run_id)
        if outcome == "missing":
            raise RunNotFound(run_id)
        if outcome == "fenced":
            raise LeaseLost(run_id)
        raise ConflictError(run_id, expected, actual)

    def load(self, run_id: str) -> RunRecord:
        key = self._keys(check_run_id(run_id))[0]
        data = self._call(lambda: self._client.hget(key, "snapshot"), key)
        if data is None:
            if self._call(lambda: self._client.exists(key), key):
                raise CorruptRun(key, "the run's hash has no snapshot")
            raise RunNotFound(run_id)
        return self._decode(run_id, data)

    def version(self, run_id: str) -> int:
        key = self._keys(check_run_id(run_id))[0]
        found = self._call(lambda: self._client.hget(key, "version"), key)
        if found is None:
            return self.load(run_id).version  # raises RunNotFound, or CorruptRun for junk
        return int(found)

    def _decode(self, run_id: str, data: bytes) -> RunRecord:
        key = self._keys(run_id)[0]
        try:
            run = loads(data, RunRecord)
        except CodecError as exc:
            raise CorruptRun(key, str(exc)) from exc
        if run.run_id != run_id:
            raise CorruptRun(key, f"it holds run {run.run_id!r}")
        return run

    def _lease_call(self, run_id: str, token: str, mode: str) -> tuple[str, int]:
        keys = self._keys(run_id)
        lease_keys = [keys[0], keys[5], keys[4]]
        millis = str(int(self.lease_seconds * 1000))
        outcome, fence = self._call(
            lambda: self._lease(keys=lease_keys, args=[run_id, token, millis, mode]), keys[0]
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
        lease_keys = [keys[0], keys[5], keys[4]]
        outcome = self._call(lambda: self._release(keys=lease_keys, args=[run_id, token]), keys[0])
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

    def dead(self, *, limit: int = 50, offset: int = 0) -> list[RunRecord]:
        """Dead-lettered runs, most recently failed first, from the dead index."""
        return self._from_index("dead", limit, offset)

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
        """Runs, most recently changed first: each partition's index gives its top
        ``offset + limit``, so the cost follows the page, not the number of runs stored."""
        check_page(state, limit, offset)
        names = [f"state:{each}" for each in (STATES if state is None else (state,))]
        return self._from_index(names, limit, offset)

    def _from_index(self, names: str | list[str], limit: int, offset: int) -> list[RunRecord]:
        """The runs of a page of sorted-set indexes, highest score first, over partitions."""
        scored: list[tuple[float, str]] = []
        for tag in self._partition_tags():
            for name in [names] if isinstance(names, str) else names:
                key = f"{tag}:{name}"
                window = partial(
                    self._client.zrevrange, key, 0, offset + limit - 1, withscores=True
                )
                top = self._call(window, key)
                scored.extend((score, _text(member)) for member, score in top)
        scored.sort(reverse=True)
        return self._load_many([run_id for _, run_id in scored[offset : offset + limit]])

    def _load_many(self, run_ids: list[str]) -> list[RunRecord]:
        """Load runs in one pipelined round trip (a run deleted meanwhile is left out)."""

        def fetch() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for run_id in run_ids:
                pipe.hget(self._keys(run_id)[0], "snapshot")
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
    if not number > 0:
        raise InvalidArgument(f"{name} must be positive, not {value!r}")
    return number
