"""Logging that stays bounded: a junk entry or a run that keeps failing is logged once, not
once per sweep or claim, so that a worker's log lines per second do not grow with what the
store holds."""

from __future__ import annotations

import threading

__all__ = ["forget", "log_once"]

_REMEMBERED = 10_000
_seen: dict[tuple[str, str], None] = {}
_lock = threading.Lock()


def log_once(logger: str, key: str, message: str, *args: object, traceback: bool = False) -> bool:
    """Log `message` as a warning of `logger` the first time `key` comes up (with the
    current exception's traceback, if `traceback`); whether it did.

    The keys remembered are bounded (the oldest are forgotten first), so a store full of junk
    costs a bounded amount of memory too.
    """
    with _lock:
        if (logger, key) in _seen:
            return False
        if len(_seen) >= _REMEMBERED:
            del _seen[next(iter(_seen))]
        _seen[logger, key] = None
    import logging  # on first use: most processes never log a thing

    logging.getLogger(logger).warning(message, *args, exc_info=traceback)
    return True


def forget(logger: str, key: str) -> None:
    """Log `key` again next time it comes up (it was repaired, say)."""
    with _lock:
        _seen.pop((logger, key), None)
