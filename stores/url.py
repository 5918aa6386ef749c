"""Stores built from URLs, through an explicit scheme registry.

``memory://``; ``file:///absolute/path`` or ``file://relative/path`` (query: ``create=1`` to
make the directory now, ``max_run_bytes=N``); ``sqlite:///absolute/runs.db`` or
``sqlite://relative/runs.db`` (the same grammar as ``file://``, so not SQLAlchemy's, whose
``sqlite:///`` is relative; query: ``create=1``, ``synchronous=NORMAL``, ``busy_timeout=S``,
``max_run_bytes=N``); ``redis://[user:password@]host:port/db?prefix=...``
and ``rediss://`` (TLS), with ``cluster=1`` for a Redis Cluster (see `RedisStore` for the
rest). Every scheme takes ``keep_finished_days=N``: finished runs' time to live, kept by the
workers' sweeps (`Store.keep_finished`). Other drivers register a factory with
`register_scheme`. Drivers are imported only when a store of theirs is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from statemachine.core.errors import InvalidArgument
from statemachine.store import Store
from statemachine.store.memory import MemoryStore

from .file import FileStore

__all__ = ["open_store", "register_scheme"]

Factory = Callable[[str], Store]
"""Builds a store from its whole URL (a string: each scheme parses its own)."""

_TRUE = ("1", "true", "yes")


def _split(url: str) -> tuple[str, dict[str, str]]:
    """The part after ``scheme://`` without its query, and the query's options."""
    rest = url.partition("://")[2]
    where, _, query = rest.partition("?")
    try:
        options = {
            name: values[-1] for name, values in parse_qs(query, strict_parsing=bool(query)).items()
        }
    except ValueError:
        raise InvalidArgument(f"the store URL's query {query[:80]!r} is malformed") from None
    return where, options


def _memory(url: str) -> Store:
    where, options = _split(url)
    if where not in ("", "/"):
        raise InvalidArgument("memory:// takes no host or path")
    return MemoryStore(**_limit(options))


def _path(url: str, example: str, known: set[str]) -> tuple[str, dict[str, str], bool]:
    """The path a ``file://`` or ``sqlite://`` URL names, its options, and its `create`."""
    where, options = _split(url)
    path = unquote(where)
    scheme = url.partition("://")[0].lower()
    if not path:
        raise InvalidArgument(f"{scheme}:// needs a path, as in {example}")
    unknown = set(options) - {"create", "max_run_bytes", *known}
    if unknown:
        raise InvalidArgument(f"unknown {scheme} store option(s): {', '.join(sorted(unknown))}")
    return path, options, options.get("create", "").lower() in _TRUE


def _file(url: str) -> Store:
    path, options, create = _path(url, "file:///var/lib/runs", set())
    settings: dict[str, Any] = _limit(options)
    return FileStore(path, create=create, **settings)


def _sqlite(url: str) -> Store:
    from .sqlite import SqliteStore

    path, options, create = _path(url, "sqlite:///var/lib/runs.db", {"synchronous", "busy_timeout"})
    settings: dict[str, Any] = _limit(options)
    if "synchronous" in options:
        settings["synchronous"] = options["synchronous"]
    if "busy_timeout" in options:
        try:
            settings["busy_timeout"] = float(options["busy_timeout"])
        except ValueError:
            raise InvalidArgument(
                f"busy_timeout must be a number of seconds, not {options['busy_timeout'][:40]!r}"
            ) from None
    return SqliteStore(path, create=create, **settings)


def _limit(options: dict[str, str]) -> dict[str, int | None]:
    if "max_run_bytes" not in options:
        return {}
    value = options["max_run_bytes"]
    if not (value.isascii() and value.isdigit()) or int(value) < 1:  # not "²": int() refuses it
        raise InvalidArgument(f"max_run_bytes must be a positive integer, not {value[:40]!r}")
    return {"max_run_bytes": int(value)}


def _redis(url: str) -> Store:
    from .redis import RedisStore

    return RedisStore(url)


_SCHEMES: dict[str, Factory] = {
    "memory": _memory, "file": _file, "sqlite": _sqlite, "redis": _redis, "rediss": _redis,
}  # fmt: skip


def register_scheme(scheme: str, factory: Factory) -> None:
    """Make `open_store` build stores for URLs of `scheme` with `factory(url)`."""
    _SCHEMES[scheme.lower()] = factory


def open_store(url: str) -> Store:
    """Build the store a URL names.

    Raises:
        InvalidArgument: the URL is malformed or its scheme is unknown.
        StoreError: the store cannot be opened.
    """
    if not isinstance(url, str):
        raise InvalidArgument(f"a store URL must be a string, not {type(url).__name__}")
    scheme, separator, _ = url.partition("://")
    factory = _SCHEMES.get(scheme.lower()) if separator else None
    if factory is None:
        known = ", ".join(f"{name}://" for name in sorted(_SCHEMES))
        shown = scheme[:20] if separator else url.partition(":")[0][:20]
        raise InvalidArgument(f"unknown store URL scheme {shown!r}; known: {known}")
    url, keep = _keep_finished(url)
    store = factory(url)
    if keep is not None:
        store.keep_finished = keep
    return store


_KEEP = "keep_finished_days"


def _keep_finished(url: str) -> tuple[str, float | None]:
    """The URL without the ``keep_finished_days=N`` option every scheme takes (the finished
    runs' time to live, kept by the workers' sweeps), and that time in seconds."""
    base, mark, query = url.partition("?")
    if not mark:
        return url, None
    kept, days = [], None
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name != _KEEP:
            kept.append(part)
            continue
        try:
            days = float(value)
        except ValueError:
            days = -1.0
        if not 0 < days <= 36_500:
            raise InvalidArgument(f"{_KEEP} must be a number of days over 0, not {value[:20]!r}")
    return base + ("?" + "&".join(kept) if kept else ""), None if days is None else days * 86400
