"""What a Redis store checks and fixes when it is opened: the server's eviction policy, and
the prefix's settings (partition count, key layout, epoch), which its first user fixes."""

from __future__ import annotations

import warnings
from typing import Any

from statemachine.core.errors import (
    CorruptRun,
    InvalidArgument,
    StoreError,
    StoreReset,
    UnsafeStoreConfiguration,
)
from statemachine.store.values import new_id

from .client import script
from .keys import LAYOUT, text

__all__ = ["RedisConfigWarning", "check_eviction_policy", "replication", "settle"]


class RedisConfigWarning(UserWarning):
    """The Redis server is configured in a way that could lose what the store relies on."""


def settle(
    driver: Any, prefix: str, default: int, requested: object, where: str
) -> tuple[int, str]:
    """The prefix's partition count and epoch: the stored ones, or, for a new prefix, the ones
    asked for and a new epoch, written into its meta key and every partition.

    Raises:
        StoreError: the prefix holds runs in another key layout.
        CorruptRun: its meta key is junk.
        InvalidArgument: a partition count other than the stored one was asked for.
        StoreReset: a partition holds another epoch than the meta key.
    """
    meta = f"{prefix}:meta"
    wanted = default if requested is None else _int("partitions", requested)
    if not 1 <= wanted <= 1024:
        raise InvalidArgument("partitions must be between 1 and 1024")
    stored, layout, epoch = driver.eval(script("settle"), 1, meta, wanted, LAYOUT, new_id())
    if layout is None or text(layout) != LAYOUT:
        found = "an earlier one" if layout is None else f"layout {text(layout)}"
        raise StoreError(
            f"prefix {prefix!r} holds runs in {found} of keys; this version reads layout "
            f"{LAYOUT}: use another prefix"
        )
    actual = int(text(stored)) if text(stored).isdigit() else 0
    if not 1 <= actual <= 1024 or epoch is None:
        raise CorruptRun(meta, f"its partition count is {stored!r}, its epoch {epoch!r}")
    if requested is not None and actual != wanted:
        raise InvalidArgument(f"prefix {prefix!r} already uses {actual} partitions, not {wanted}")
    epoch = text(epoch)
    for n in range(actual):  # each partition holds the epoch, for its writes to check
        key = f"{prefix}:{{p{n}}}:epoch"
        driver.set(key, epoch, nx=True)
        if text(driver.get(key)) != epoch:
            raise StoreReset(where, epoch, text(driver.get(key)))
    return actual, epoch


def replication(
    replicas: int | None, timeout_ms: int | None, options: dict[str, str], cluster: bool
) -> tuple[int, int]:
    """How many replicas must acknowledge each change (``WAIT``), and for how long to wait:
    the arguments, else the URL's ``wait_replicas`` and ``wait_timeout_ms`` (0 replicas, the
    default: none waited for).

    Raises:
        InvalidArgument: a count or time out of range, or a Cluster (where ``WAIT`` would go to
            whichever node the client picks, not the one written).
    """
    wanted = (
        replicas if replicas is not None else _int("wait_replicas", options.get("wait_replicas", 0))
    )
    timeout = (
        timeout_ms
        if timeout_ms is not None
        else _int("wait_timeout_ms", options.get("wait_timeout_ms", 1000))
    )
    if type(wanted) is not int or not 0 <= wanted <= 100:
        raise InvalidArgument("wait_replicas must be an integer from 0 to 100")
    if type(timeout) is not int or not 1 <= timeout <= 3_600_000:
        raise InvalidArgument("wait_timeout_ms must be an integer from 1 to 3,600,000")
    if wanted and cluster:
        raise InvalidArgument("wait_replicas is not supported on a Cluster")
    return wanted, timeout


def check_eviction_policy(driver: Any, allowed: bool, where: str) -> None:
    """Refuse a server that may evict runs (``allkeys-*``) unless `allowed`; warn on one that
    may evict keys with a time to live (``volatile-*``: the operation ids).

    Raises:
        UnsafeStoreConfiguration: the server may evict runs, and that is not allowed.
    """
    try:
        answer = driver.config_get("maxmemory-policy")
    except Exception:  # CONFIG may be forbidden (ACLs, managed services): nothing to check
        return
    # One server answers {name: value}; a Cluster client may answer per node.
    replies = [answer] if "maxmemory-policy" in answer else list(answer.values())
    for reply in replies:
        policy = text(reply.get("maxmemory-policy", "noeviction"))
        if policy.startswith("allkeys") and not allowed:
            raise UnsafeStoreConfiguration(
                f"Redis at {where} has maxmemory-policy {policy!r}: under memory pressure it "
                "evicts runs and their indexes, silently. Set maxmemory-policy noeviction, or "
                "open it with allow_eviction=1 if losing runs is acceptable."
            )
        if policy.startswith("volatile"):
            warnings.warn(
                f"Redis maxmemory-policy is {policy!r}: under memory pressure the server may "
                "evict the operation ids that make retried writes idempotent. Set "
                "maxmemory-policy noeviction.",
                RedisConfigWarning,
                stacklevel=5,
            )
            return


def _int(name: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer, not {str(value)[:40]!r}") from None
