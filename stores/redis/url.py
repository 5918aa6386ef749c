"""Redis store URLs: parsed by their own narrow grammar, so that a password is never mis-split,
never shown, and a malformed URL is always `InvalidArgument`.

A Redis URL is ``redis[s]://[user[:password]@]host[:port][/db][?query][#fragment]``. The
generic URL parser (`urllib.parse.urlsplit`) cuts the authority at the first ``/``, ``?`` or
``#``, so a password holding one of them is split in the wrong place, and its errors quote the
text they could not parse, password included. This grammar is narrow enough to need no such
cut: the host is a hostname, an IPv4 address or a bracketed IPv6 address (never an ``@``), the
path is empty or ``/`` and a database number, and an ``@`` in a query or fragment is written
``%40``. So the userinfo ends at the last ``@``, and a password may hold any of
``/ ? # @ :`` unencoded. Only a literal ``%`` must be written ``%25``, as credentials are
percent-decoded.

The driver is given the credentials as keyword arguments, never inside a URL or any other text,
so none of its messages can quote them; its errors are re-raised as the library's own.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlencode

import attrs

from statemachine.core.errors import InvalidArgument, StoreUnavailable

__all__ = [
    "DEFAULT_PORT",
    "OUR_OPTIONS",
    "RedisURL",
    "Target",
    "build",
    "clean",
    "client_from_url",
    "mask",
    "parse_url",
    "target_of",
]

OUR_OPTIONS = (
    "prefix",
    "partitions",
    "cluster",
    "lease_seconds",
    "retry_seconds",
    "allow_eviction",
    "max_run_bytes",
    "wait_replicas",
    "wait_timeout_ms",
)
"""The query options the store reads itself; every other one goes to redis-py."""

DEFAULT_PORT = 6379

_SCHEME = re.compile(r"(rediss?)://", re.IGNORECASE)
# ASCII only, explicitly: host names are (an international one is written in its IDNA form),
# and `\d` would match any Unicode digit.
_HOSTNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_DIGITS = re.compile(r"[0-9]+")
_HOST_END = re.compile(r"[/?#]")


class RedisURL(NamedTuple):
    """A parsed Redis URL; its `repr` and `shown` never hold the password.

    Attributes:
        scheme: ``redis``, or ``rediss`` for TLS.
        username: the ACL user, percent-decoded, or None.
        password: the password, percent-decoded, or None.
        host: a hostname, an IPv4 address, or an IPv6 address without its brackets.
        port: 1 to 65535; 6379 unless given.
        db: the database number; 0 unless given (a ``db`` query option wins over the path, as
            in redis-py).
        query: every query option, percent-decoded; of one given twice, the last.
    """

    scheme: str
    username: str | None
    password: str | None
    host: str
    port: int
    db: int
    query: dict[str, str]

    def shown(self) -> str:
        """The URL as it may be shown: the password masked, the query left out.

        Returns:
            For example ``redis://alice:***@redis.example:6379/0``.
        """
        user = None if self.username is None else quote(self.username, safe="!$&'()*+,;=")
        return f"{self.scheme}://{mask(user, self.password)}{self.netloc()}/{self.db}"

    def netloc(self) -> str:
        """``host:port``, with an IPv6 host in brackets; no credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:
        # The generated repr would list the password: a repr ends up in logs and tracebacks.
        return f"RedisURL({self.shown()!r})"


def parse_url(url: str) -> RedisURL:
    """Parse a ``redis://`` or ``rediss://`` URL.

    The userinfo ends at the last ``@``: nothing after it (a host, port, database number,
    query or fragment) ever holds one, so a password may hold anything, ``@`` included, and an
    ``@`` in a query value is written ``%40``. No other split is tried when what follows the
    last ``@`` is malformed: any other would read a piece of the password as the host or port,
    which would then be shown, and looked up. Trying the ``@`` signs from the left fails the
    same way for a password such as ``pw@x#y``, which would read as host ``x``.

    Args:
        url: the URL.

    Returns:
        Its parts, credentials percent-decoded.

    Raises:
        InvalidArgument: the URL is malformed. The message names the problem, quoting only text
            from after the last ``@``, which is never the password's.
    """
    if not isinstance(url, str):
        raise InvalidArgument(f"a Redis URL must be a string, not {type(url).__name__}")
    start = _SCHEME.match(url)
    if start is None:
        raise InvalidArgument("a Redis store URL starts with redis:// or rediss://")
    scheme = start.group(1).lower()
    userinfo, at, after = url[start.end() :].rpartition("@")
    host, port, db, query = _after_userinfo(after)
    username, password = _userinfo(userinfo) if at else (None, None)
    return RedisURL(scheme, username, password, host, port, db, query)


def _after_userinfo(text: str) -> tuple[str, int, int, dict[str, str]]:
    """Parse ``host[:port][/db][?query][#fragment]``: what follows the userinfo."""
    end = _HOST_END.search(text)
    authority, rest = (text, "") if end is None else (text[: end.start()], text[end.start() :])
    host, port = _host_port(authority)
    rest = rest.partition("#")[0]  # a fragment means nothing to Redis
    path, _, query_text = rest.partition("?")
    if path in ("", "/"):
        db = 0
    elif path.startswith("/") and _DIGITS.fullmatch(path[1:]):
        db = int(path[1:])
    else:
        raise InvalidArgument(
            f"invalid Redis URL: the path must be a database number, as in /0, not {path!r}"
        )
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    if "db" in query:
        if not _DIGITS.fullmatch(query["db"]):
            raise InvalidArgument(
                f"invalid Redis URL: db must be a non-negative integer, not {query['db']!r}"
            )
        db = int(query["db"])
    return host, port, db, query


def _host_port(authority: str) -> tuple[str, int]:
    """Parse ``host[:port]``: a hostname, an IPv4 address, or a bracketed IPv6 address."""
    port_text: str | None
    if authority.startswith("["):
        host, closed, after = authority[1:].partition("]")
        if not closed:
            raise InvalidArgument(
                f"invalid Redis URL: the IPv6 address in {authority!r} has no closing ]"
            )
        # A zone id ("%25eth0") is refused: `ipaddress` would take the "25" as part of it.
        if "%" in host or not _is_ipv6(host):
            raise InvalidArgument(f"invalid Redis URL: {host!r} is not an IPv6 address")
        if after and not after.startswith(":"):
            raise InvalidArgument(
                f"invalid Redis URL: {authority!r} has text after its IPv6 address"
            )
        port_text = after[1:] if after else None
    else:
        host, colon, after = authority.partition(":")
        port_text = after if colon else None
        if not host:
            raise InvalidArgument("invalid Redis URL: no host")
        if not _HOSTNAME.fullmatch(host):
            raise InvalidArgument(
                f"invalid Redis URL: {host!r} is not a hostname, an IPv4 address or an [IPv6] "
                "address"
            )
    if port_text is None:
        return host, DEFAULT_PORT
    if not _DIGITS.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise InvalidArgument(
            f"invalid Redis URL: the port must be an integer from 1 to 65535, not {port_text!r}"
        )
    return host, int(port_text)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _userinfo(text: str) -> tuple[str | None, str | None]:
    """Split ``user[:password]`` at its first ``:`` and percent-decode both parts."""
    user_text, _, password_text = text.partition(":")
    decoded: list[str] | None
    try:
        decoded = [unquote(part, errors="strict") for part in (user_text, password_text)]
    except UnicodeDecodeError:
        decoded = None  # raised outside the handler: the decoding error holds their bytes
    if decoded is None:
        raise InvalidArgument("invalid Redis URL: the credentials' percent-escapes are not UTF-8")
    username, password = decoded
    # An empty user or password is none at all, as in redis-py (which sends no AUTH for it).
    return username or None, password or None


@attrs.frozen
class Target:
    """What a driver client is built from: the URL handed to redis-py (with no credentials in
    it), the keyword arguments (credentials among them), the URL as it may be shown, and our
    own query options."""

    driver_url: str
    settings: dict[str, Any] = attrs.field(repr=False)
    shown: str
    ours: dict[str, str]
    cluster: bool


def target_of(url: str) -> Target:
    """The driver target a Redis URL names (see `parse_url`).

    Raises:
        InvalidArgument: the URL or one of its options is malformed.
    """
    address = parse_url(url)
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    shown = address.shown()
    ours = {name: value for name, value in address.query.items() if name in OUR_OPTIONS}
    # db travels in the path: redis-py would let a query db win over it, as parse_url did.
    theirs = {
        name: value
        for name, value in address.query.items()
        if name not in OUR_OPTIONS and name != "db"
    }
    cluster = ours.get("cluster", "").lower() in ("1", "true", "yes")
    if cluster and address.db != 0:
        raise InvalidArgument(f"invalid Redis URL {shown}: a Redis Cluster has only db 0")
    # Retries are ours (they know which writes are safe to repeat); timeouts keep a stopped
    # server from hanging a caller forever.
    settings: dict[str, Any] = {"retry": Retry(NoBackoff(), 0)}
    if "socket_timeout" not in theirs:
        settings["socket_timeout"] = 10.0
    if "socket_connect_timeout" not in theirs:
        settings["socket_connect_timeout"] = 5.0
    # The credentials go as keyword arguments, so that no text the driver parses, keeps or
    # quotes in a message ever holds them.
    if address.username is not None:
        settings["username"] = address.username
    if address.password is not None:
        settings["password"] = address.password
    path = "" if cluster else f"/{address.db}"  # RedisCluster refuses any db option
    driver_url = f"{address.scheme}://{address.netloc()}{path}?{urlencode(theirs)}"
    return Target(driver_url, settings, shown, ours, cluster)


def client_from_url(url: str) -> tuple[Any, str, dict[str, str]]:
    """Build a redis-py client (a ``Redis``, or a ``RedisCluster`` with ``cluster=1``).

    Args:
        url: a Redis URL (see `parse_url`). Query options of `OUR_OPTIONS` are returned;
            every other one goes to redis-py, which converts the ones it knows
            (``socket_timeout``, ``ssl_ca_certs``, ...).

    Returns:
        The client; the `repr` of the URL as it may be shown; our query options.

    Raises:
        InvalidArgument: the URL or one of its options is malformed.
        StoreUnavailable: a Cluster's nodes cannot be reached (a single server's client
            connects only when first used).
    """
    target = target_of(url)
    return build(target, asynchronous=False), repr(target.shown), target.ours


def build(target: Target, *, asynchronous: bool) -> Any:
    """The driver's client for `target`: redis-py's, or its asyncio twin.

    Raises:
        InvalidArgument: an option the driver refuses.
        StoreUnavailable: a Cluster's nodes cannot be reached.
    """
    import redis  # imported here: the driver is imported only when a Redis store is built
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster
    import redis.connection

    parse_url: Any = redis.connection.parse_url  # untyped in the driver

    problem: InvalidArgument | StoreUnavailable | None = None
    try:
        # Checked for every kind of client: a Cluster's would fail connecting, the others at
        # their first command.
        _check_timeouts_and_encoding({**parse_url(target.driver_url), **target.settings})
        if asynchronous:
            kind: Any = (
                redis.asyncio.cluster.RedisCluster if target.cluster else redis.asyncio.Redis
            )
            settings = dict(target.settings)
            settings.pop("retry")  # the asyncio client takes its own Retry class
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            client: Any = kind.from_url(target.driver_url, retry=Retry(NoBackoff(), 0), **settings)
        elif target.cluster:
            client = redis.cluster.RedisCluster.from_url(target.driver_url, **target.settings)
        else:
            client = redis.Redis.from_url(target.driver_url, **target.settings)
            _check_options(client)
    except (ValueError, TypeError, LookupError) as exc:
        problem = InvalidArgument(f"invalid Redis URL {target.shown}: {clean(exc)}")
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        # RedisClusterException (a Cluster with no reachable node) is not a RedisError.
        problem = StoreUnavailable(f"Redis at {target.shown}: {clean(exc)}")
    if problem is not None:
        # Raised outside the handler, so that the driver's exception is not even its context.
        raise problem
    return client


def _check_options(client: Any) -> None:
    """Refuse an unknown or malformed driver option now (as `ValueError`), not at the first
    command: a ``Redis`` client checks them only when it opens its first connection, where a
    misspelt option would surface as a bare ``TypeError``. Building one opens no socket."""
    import redis

    pool = client.connection_pool
    try:
        pool.connection_class(**pool.connection_kwargs)
    except (TypeError, ValueError, redis.RedisError) as exc:
        client.close()
        raise ValueError(str(exc)) from None


def _check_timeouts_and_encoding(options: dict[str, Any]) -> None:
    """Refuse what the driver takes as given and fails on at the first command: a timeout the
    socket cannot wait (NaN, negative, or past what a clock can count), a codec that is not
    a text encoding (LookupError)."""
    for name in ("socket_timeout", "socket_connect_timeout"):
        seconds = options.get(name)
        if seconds is not None and not 0 < seconds <= _LONGEST_TIMEOUT:
            raise ValueError(f"{name} must be a number of seconds over 0, up to a year")
    "".encode(options.get("encoding", "utf-8"))
    codecs.lookup_error(options.get("encoding_errors", "strict"))


_LONGEST_TIMEOUT = 365 * 86400.0


def mask(username: str | None, password: str | None) -> str:
    """The userinfo as it may be shown.

    Args:
        username: the user, or None.
        password: the password, or None.

    Returns:
        ``user:***@``, ``:***@``, ``user@`` or the empty string.
    """
    if password is not None:
        return f"{username or ''}:***@"
    return f"{username}@" if username else ""


def clean(exc: BaseException) -> str:
    """The driver's message, with anything that looks like credentials in a URL masked.

    Args:
        exc: the driver's exception.

    Returns:
        Its message, ``scheme://user:***@`` wherever it held ``scheme://user:password@``.
    """
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", str(exc))
