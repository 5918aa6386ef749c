"""The Redis server's clock, read without asking for it: every script that reads the server's
``TIME`` answers with it, and the store reckons the server's time from the last such answer
and this host's monotonic clock since, instead of sending ``TIME`` before each write.

Why that is the server's time, not this host's: what is added to the answer is only the
time elapsed here since it came (a monotonic clock, immune to this host's wall clock), for
at most `TRUST_SECONDS`; after that the store asks the server again. A reckoned time lags the
server's by the reply's trip back (the time ``TIME`` itself lagged by too); since successive
answers lag by different amounts, a reckoned time never goes back by less than a second (a
real step of the server's clock, larger, is followed).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

__all__ = ["TRUST_SECONDS", "ServerClock"]

TRUST_SECONDS = 1.0
"""For how long an answer's time is reckoned from: the drift of a monotonic clock over it is
a few microseconds."""


class ServerClock:
    """The server's time as last answered, and when (by this host's monotonic clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._anchor: tuple[float, float] | None = None  # (server seconds, local monotonic)
        self._last = 0.0

    def saw(self, seconds: object, micros: object) -> datetime:
        """Note the server's ``TIME`` from a reply; answer it as a time."""
        server_time = _int(seconds) + _int(micros) / 1e6
        self._anchor = (server_time, time.monotonic())
        return self._answer(server_time)

    def reckon(self) -> datetime | None:
        """The server's time now, reckoned from its last answer; None if there is no recent
        one (then ask the server)."""
        anchor = self._anchor
        if anchor is None:
            return None
        elapsed = time.monotonic() - anchor[1]
        if elapsed > TRUST_SECONDS:
            return None
        return self._answer(anchor[0] + elapsed)

    def _answer(self, seconds: float) -> datetime:
        with self._lock:
            if self._last - 1.0 < seconds < self._last:
                seconds = self._last
            self._last = seconds
        return datetime.fromtimestamp(seconds, UTC)


def _int(value: object) -> int:
    return int(value.decode() if isinstance(value, bytes) else str(value))
