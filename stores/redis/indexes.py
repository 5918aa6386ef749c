"""The Redis store's operations through its indexes, as plans: pages and dead letters, claims,
sweeps of due timeouts and expired leases, cost what they find, not what the store holds.

Whatever an index holds that is not a run (junk, or an entry whose run was evicted or deleted)
is logged once, skipped, and removed from the index where it was met.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from datetime import datetime
from typing import Any

from statemachine.core.errors import (
    ConflictError,
    CorruptRun,
    LeaseLost,
    RunBusy,
    RunNotFound,
    StoreError,
    StoreReset,
    VersionConflict,
)
from statemachine.store import plans
from statemachine.store.logs import log_once
from statemachine.store.plans import Plan
from statemachine.store.values import (
    LOG,
    STATES,
    Lease,
    RetryPolicy,
    RunList,
    check_page,
    is_run_id,
    new_id,
    served,
)

from .client import Cmd, Pipe, Script
from .keys import RunKeys, parse_entry, partition, ready_key, state_entry, text
from .records import Records, score_of

__all__ = ["Indexes", "score_of"]

# The most entries one range read asks for: Redis refuses a count past a 64-bit integer, and
# an offset that far into an index is past its end anyway (the page is empty, as elsewhere).
_MOST = 1 << 62
_CLAIM_LOOKS = 64  # ready entries one claim script looks at: gone runs' entries removed as met
_CLAIM_ROUNDS = 50  # claim scripts per index while they remove such entries


class Indexes(Records):
    """The index-backed plans of `RedisStore`, built on its records' plans."""

    def _tags(self) -> list[str]:
        return [f"{self.prefix}:{{p{n}}}" for n in range(self.partitions)]

    def _valid(self, key: str, members: list[str]) -> Plan[list[str]]:
        """The members of index `key` that are run ids; junk is logged once and removed."""
        valid = []
        for member in members:
            if is_run_id(member):
                valid.append(member)
                continue
            _log_junk(key, [member])
            yield Cmd("zrem", (key, member), key)
        return valid

    def _first_of_each(self, commands: list[tuple[str, tuple[Any, ...]]]) -> Plan[list[Any]]:
        """Read one range of each partition's index in one pipelined round trip (the index's
        key first among each command's arguments); an index of the wrong type is
        `CorruptRun`, as it is when read on its own."""
        found: list[Any] = yield Pipe(tuple(commands))
        for (_, args), reply in zip(commands, found, strict=True):
            if isinstance(reply, Exception):
                if "WRONGTYPE" in str(reply):
                    raise CorruptRun(args[0], "a key of the wrong type")
                raise StoreError(f"Redis at {self._where} refused: {str(reply)[:200]}")
        return found

    def _unlink(self, run_id: str, index: str, member: str) -> Plan[None]:
        """Remove `member` from `index` if the run it names is gone (checked in the script)."""
        run = self._run_key(run_id)
        yield Script("unlink", [run, index], [member], index)

    def plan_forget(self, run_id: str) -> Plan[None]:
        """Remove the entries of a run that is gone from the indexes that list it by id."""
        tag = partition(self.prefix, self.partitions, run_id)
        for index in ("runs", "deadlines", "leases", "dead"):
            yield from self._unlink(run_id, f"{tag}:{index}", run_id)

    def plan_quarantine(self, run_id: str, reason: str) -> Plan[None]:
        """Set aside a run whose snapshot cannot be read: no claim returns it again, and it is
        listed among the dead letters with `reason`."""
        keys: RunKeys = yield from self._plan_keys(run_id, None)
        tag = keys.tag
        names = [keys.run, f"{tag}:states", f"{tag}:deadlines", keys.lease[2], f"{tag}:dead"]
        now = yield from self._plan_now()
        changed = state_entry("failed", now, run_id).split("|")[1]
        yield Script("quarantine", names, [run_id, reason[:2000], changed], keys.run, run_id)

    def plan_delete(self, run_id: str, expected: int) -> Plan[None]:
        """Remove the run for good, if still at `expected`, leaving its tombstone."""
        keys: RunKeys = yield from self._plan_keys(run_id, None)
        tag = keys.tag
        names = [
            keys.run, f"{tag}:runs", f"{tag}:states", f"{tag}:deadlines", keys.lease[2],
            f"{tag}:dead", keys.lease[1], keys.purged,
        ]  # fmt: skip
        answer = text((yield Script("purge", names, [run_id, str(expected)], keys.run, run_id)))
        if answer == "missing":
            raise RunNotFound(run_id)
        if answer == "busy":
            raise RunBusy(run_id)
        if answer.startswith("conflict "):
            raise VersionConflict(run_id, expected, int(answer.split()[1]))

    def plan_run_ids(self) -> Plan[list[str]]:
        """The ids in the ``runs`` indexes whose runs exist; junk and entries whose run is
        gone (evicted, deleted by hand) are logged once and removed."""
        ids: list[str] = []
        for tag in self._tags():
            key = f"{tag}:runs"
            members = yield Cmd("zrange", (key, 0, -1), key)
            found = yield from self._valid(key, [text(member) for member in members])
            if not found:
                continue
            there = yield Pipe(tuple(("exists", (f"{tag}:run:{run_id}",)) for run_id in found))
            for run_id, exists in zip(found, there, strict=True):
                if exists:
                    ids.append(run_id)
                else:
                    yield from self.plan_forget(run_id)
        return ids

    def plan_claim(
        self, now: datetime | None, workflows: Collection[str] | None
    ) -> Plan[Lease | None]:
        """Take the lease of a run from the ready indexes of `workflows` (default: every
        workflow), runnable at `now` (default: the server's clock; a run made runnable at once
        is runnable whatever the time), or None. One script picks, leases and reads the run
        (`scripts/claim.lua`), so workers do not race for a run; with several indexes, the
        one whose head waited longest is tried first."""
        names = served(workflows)
        at = now if now is not None else (yield from self._plan_now())
        score = str(int(at.timestamp() * 1000))
        tags = self._tags()
        random.shuffle(tags)  # workers spread over partitions instead of all queuing on one
        if names is None:
            found = yield from self._first_of_each(
                [("smembers", (f"{tag}:workflows",)) for tag in tags]
            )
            per_tag = [sorted(text(name) for name in members) for members in found]
        else:
            per_tag = [sorted(names)] * len(tags)
        indexes = [
            (tag, workflow) for tag, here in zip(tags, per_tag, strict=True) for workflow in here
        ]
        if len(indexes) > 1:
            # A run made runnable at once is runnable whatever `now` says: its entry's score
            # is the server's time of its write, at most the server's time now.
            server = at if now is None else (yield from self._plan_now())
            upto = max(int(score), int(server.timestamp() * 1000))
            indexes = yield from self._by_head(indexes, str(upto))
        millis = str(int(self.lease_seconds * 1000))
        for tag, workflow in indexes:
            key = ready_key(tag, workflow)
            for _ in range(_CLAIM_ROUNDS):
                token = new_id()
                reply = yield Script(
                    "claim",
                    [key, f"{tag}:leases", f"{tag}:claim:{token}"],
                    [f"{tag}:run:", score, token, millis, str(_CLAIM_LOOKS), workflow],
                    key,
                )
                self._timed(reply, 1)
                _log_junk(key, [text(entry) for entry in reply[3]])
                for run_id in (text(entry) for entry in reply[4]):
                    log_once(
                        LOG, f"{key}:{run_id}", "removing %r from %s: its key is not a run "
                        "of this workflow", run_id[:80], key,
                    )  # fmt: skip
                if text(reply[0]) == "ok":
                    run_id = text(reply[5])
                    yield from self._plan_keys(run_id, workflow)  # known now: no read for them
                    if reply[7] is not None:  # for `load_claimed`, which comes next
                        self._keep_claimed(token, reply[7])
                    return Lease(run_id, token, int(reply[6]))
                if not reply[3] and not reply[4]:
                    break  # nothing removed: nothing free in this index
                # Entries of gone runs were removed: look again, so that they never hide the
                # live runs behind them (each look is bounded, so as not to stall the server).
        return None

    def _by_head(self, indexes: list[tuple[str, str]], score: str) -> Plan[list[tuple[str, str]]]:
        """The ready indexes with a runnable entry, the longest-waiting head first."""
        commands = [
            ("zrangebyscore", (ready_key(tag, workflow), "-inf", score, 0, 1, True))
            for tag, workflow in indexes
        ]
        found = yield from self._first_of_each(commands)
        heads = [(reply[0][1], index) for index, reply in zip(indexes, found, strict=True) if reply]
        # By score alone: heads of the same millisecond stay in the shuffled order of the
        # partitions, so workers spread over them.
        return [index for _, index in sorted(heads, key=lambda head: head[0])]

    def plan_reap(self, policy: RetryPolicy, now: datetime | None) -> Plan[list[str]]:
        """Take over every lease that ran out (by the server's clock), count the attempt and
        make the run runnable again after its backoff (or dead-letter it), in one fenced
        commit that gives the lease back (`_plan_reap_one`)."""
        server = yield from self._plan_now()
        at = now if now is not None else server
        expired_before = str(int(server.timestamp() * 1000))
        reaped: list[str] = []
        tags = self._tags()
        firsts = yield from self._first_of_each(
            [("zrangebyscore", (f"{tag}:leases", "-inf", expired_before, 0, 100)) for tag in tags]
        )
        for tag, found in zip(tags, firsts, strict=True):
            key = f"{tag}:leases"
            if not found:
                continue
            for run_id in (yield from self._valid(key, [text(member) for member in found])):
                try:
                    if (yield from self._plan_reap_one(run_id, policy, at)):
                        reaped.append(run_id)
                except RunNotFound:
                    yield from self.plan_forget(run_id)
                except (LeaseLost, ConflictError):
                    continue  # taken over, or changed by others meanwhile: a later sweep sees to it
                except CorruptRun as exc:
                    log_once(LOG, f"{key}:{run_id}", "reap: setting aside run %s: %s", run_id, exc)
                    yield from self.plan_quarantine(run_id, str(exc))
        return reaped

    def plan_expire_due(self, now: datetime | None) -> Plan[list[str]]:
        """Apply every due timeout, found through the deadline index in batches of 100 (the
        first batch of every partition read in one round trip)."""
        at = now if now is not None else (yield from self._plan_now())
        fired: list[str] = []
        tags = self._tags()
        meta = f"{self.prefix}:meta"
        firsts = yield from self._first_of_each(
            [("zrangebyscore", (f"{tag}:deadlines", "-inf", score_of(at), 0, 100)) for tag in tags]
            + [("hget", (meta, "epoch"))]
        )
        epoch = firsts.pop()  # every worker sweeps about once a second: a reset is noticed
        if not self.allow_eviction and (epoch is None or text(epoch) != self.epoch):
            raise StoreReset(self._where, self.epoch, None if epoch is None else text(epoch))
        for tag, first in zip(tags, firsts, strict=True):
            key = f"{tag}:deadlines"
            seen: set[str] = set()
            due = first
            while True:
                if due is None:
                    due = yield Cmd(
                        "zrangebyscore", (key, "-inf", score_of(at), 0, 100 + len(seen)), key
                    )
                members = yield from self._valid(key, [text(member) for member in due])
                batch = [member for member in members if member not in seen]
                if not batch:
                    break
                for run_id in batch:
                    seen.add(run_id)
                    if (yield from plans.expire_one(run_id, at)):
                        fired.append(run_id)
                due = None
        return fired

    def plan_page(
        self, state: str | None, limit: int, offset: int, oldest_first: bool = False
    ) -> Plan[RunList]:
        """Runs, most recently changed first (or last): each partition's ``states`` index gives
        its first ``offset + limit`` of each state asked for, from the end asked for, all in
        one pipelined round trip, so the cost follows the page, not the number of runs stored."""
        check_page(state, limit, offset)
        wanted = STATES if state is None else (state,)
        tags = self._tags()
        count = min(offset + limit, _MOST)
        # Entries "<state>|..." sort after "[<state>|" and before "(<state>}".
        commands = tuple(
            ("zrangebylex", (f"{tag}:states", f"[{each}|", f"({each}}}", 0, count))
            if oldest_first
            else ("zrevrangebylex", (f"{tag}:states", f"({each}}}", f"[{each}|", 0, count))
            for tag in tags
            for each in wanted
        )
        found = iter((yield from self._first_of_each(list(commands))))
        entries: list[tuple[int, str, str, str]] = []
        for tag in tags:
            key = f"{tag}:states"
            for _ in wanted:
                for member in next(found):
                    entry = text(member)
                    parsed = parse_entry(entry)
                    if parsed is None or not is_run_id(parsed[1]):
                        log_once(LOG, f"{key}:{entry}", "removing %r from %s", entry[:80], key)
                        yield Cmd("zrem", (key, entry), key)
                        continue
                    entries.append((parsed[0], parsed[1], tag, entry))
        entries.sort(reverse=not oldest_first)
        window = entries[offset : offset + limit]
        return (yield from self._load_many([(r, f"{t}:states", e) for _, r, t, e in window]))

    def plan_dead(self, limit: int, offset: int, oldest_first: bool = False) -> Plan[RunList]:
        """Dead-lettered runs, most recently failed first (or last), from the dead index."""
        check_page(None, limit, offset)
        scored: list[tuple[float, str, str]] = []
        tags = self._tags()
        end = min(offset + limit, _MOST) - 1
        every = yield from self._first_of_each(
            [
                ("zrange", (f"{tag}:dead", 0, end, False, True))  # ascending, with scores
                if oldest_first
                else ("zrevrange", (f"{tag}:dead", 0, end, True))  # with scores
                for tag in tags
            ]
        )
        for tag, found in zip(tags, every, strict=True):
            key = f"{tag}:dead"
            members = yield from self._valid(key, [text(member) for member, _ in found])
            scores = {text(member): score for member, score in found}
            scored += [(scores[run_id], run_id, key) for run_id in members]
        scored.sort(reverse=not oldest_first)
        window = scored[offset : offset + limit]
        return (yield from self._load_many([(run_id, key, run_id) for _, run_id, key in window]))

    def _load_many(self, wanted: list[tuple[str, str, str]]) -> Plan[RunList]:
        """Load runs in one pipelined round trip. Each is (run id, the index it was found in,
        its entry there): an entry whose run is gone is removed, a run that cannot be read is
        listed in `unreadable`."""
        runs = RunList()
        if not wanted:
            return runs
        found: list[Any] = yield Pipe(
            tuple(("hget", (self._run_key(run_id), "snapshot")) for run_id, _, _ in wanted)
        )
        for (run_id, index, entry), data in zip(wanted, found, strict=True):
            if data is None:
                yield from self._unlink(run_id, index, entry)
                continue
            try:
                if isinstance(data, Exception):  # a key of the wrong type
                    raise CorruptRun(self._run_key(run_id), "a key of the wrong type", run_id)
                runs.append((yield from self._plan_decode(run_id, data)))
            except CorruptRun as exc:
                log_once(LOG, f"{index}:{run_id}", "listing skipped run %s: %s", run_id, exc)
                runs.unreadable.append(exc)
        return runs


def _log_junk(key: str, members: list[str]) -> None:
    """Log, once each, the members of index `key` that no run id could be (removed from it)."""
    for member in members:
        if not is_run_id(member):
            log_once(LOG, f"{key}:{member}", "removing %r from %s: not a run id", member[:80], key)
