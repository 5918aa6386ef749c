"""Stores built from URLs, through an explicit scheme registry.

``memory://``; ``file:///absolute/path`` or ``file://relative/path``;
``redis://[user:password@]host:port/db?prefix=...`` and ``rediss://`` (TLS), with
``cluster=1`` for a Redis Cluster. Other drivers register a factory with `register_scheme`.
Drivers are imported only when a store of theirs is built.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

from statemachine.errors import InvalidArgument
from statemachine.store import MemoryStore, Store

from .file import FileStore

__all__ = ["open_store", "register_scheme"]

Factory = Callable[[SplitResult], Store]


def _memory(url: SplitResult) -> Store:
    if url.netloc or url.path not in ("", "/"):
        raise InvalidArgument("memory:// takes no host or path")
    return MemoryStore()


def _file(url: SplitResult) -> Store:
    path = url.netloc + url.path
    if not path:
        raise InvalidArgument("file:// needs a path, as in file:///var/lib/runs")
    return FileStore(path)


def _redis(url: SplitResult) -> Store:
    from .redis import RedisStore

    return RedisStore(url.geturl())


_SCHEMES: dict[str, Factory] = {"memory": _memory, "file": _file, "redis": _redis, "rediss": _redis}


def register_scheme(scheme: str, factory: Factory) -> None:
    """Make `open_store` build stores for URLs of `scheme` with `factory(parsed_url)`."""
    _SCHEMES[scheme.lower()] = factory


def open_store(url: str) -> Store:
    """Build the store a URL names.

    Raises:
        InvalidArgument: the URL is malformed or its scheme is unknown.
        StoreError: the store cannot be opened.
    """
    if not isinstance(url, str):
        raise InvalidArgument(f"a store URL must be a string, not {url!r}")
    parsed = urlsplit(url)
    factory = _SCHEMES.get(parsed.scheme.lower())
    if factory is None:
        known = ", ".join(f"{scheme}://" for scheme in sorted(_SCHEMES))
        raise InvalidArgument(f"unknown store URL scheme {parsed.scheme!r}; known: {known}")
    return factory(parsed)
