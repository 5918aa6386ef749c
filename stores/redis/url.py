"""Redis store URLs: parsed, turned into a driver client, and shown without credentials."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from statemachine.errors import InvalidArgument, StoreUnavailable

__all__ = ["OUR_OPTIONS", "clean", "client_from_url", "mask"]

OUR_OPTIONS = (
    "prefix", "partitions", "cluster", "lease_seconds", "retry_seconds", "allow_eviction",
    "max_run_bytes",
)  # fmt: skip


def client_from_url(url: str) -> tuple[Any, str, dict[str, str]]:
    """A redis-py client for `url`, the URL as it may be shown (credentials masked), and the
    store's own options from its query (`OUR_OPTIONS`).

    Raises:
        InvalidArgument: the URL is malformed.
        StoreUnavailable: the driver could not set up the client.
    """
    import redis
    import redis.cluster
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise InvalidArgument("a Redis store URL starts with redis:// or rediss://")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    ours = {name: query.pop(name) for name in OUR_OPTIONS if name in query}
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    safe = urlunsplit(
        (parts.scheme, mask(parts.username, parts.password) + netloc, parts.path, "", "")
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
        raise InvalidArgument(f"invalid Redis URL {safe}: {clean(exc)}") from None
    except redis.RedisError as exc:
        raise StoreUnavailable(f"Redis at {safe}: {clean(exc)}") from None
    return client, repr(safe), ours


def mask(username: str | None, password: str | None) -> str:
    """The user part of a URL as it may be shown: the password replaced by ``***``."""
    if password is not None:
        return f"{username or ''}:***@"
    return f"{username}@" if username else ""


def clean(exc: BaseException) -> str:
    """The driver's message, with anything that looks like credentials in a URL masked."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", str(exc))
