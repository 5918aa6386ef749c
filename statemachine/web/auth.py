"""Who is asking: users and their tokens, browser sessions, and CSRF tokens.

The default is simple and safe. With ``STATEMACHINE_TOKEN`` (one reviewer) or
``STATEMACHINE_USERS`` (``name:token[:viewer]``, comma-separated) in the environment, every
request must carry a token: the API as ``Authorization: Bearer TOKEN``, the browser through a
signed session cookie it gets by entering its token once. Without either, the server answers
anyone who can reach it, as the local user, and so listens on loopback only
(`statemachine.web.serve` refuses any other address). Another scheme plugs in as any object
with `authenticate` and `user` (`Users` is the one shipped).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping
from typing import Protocol

import attrs

from statemachine.core.errors import InvalidArgument

__all__ = [
    "SECRET_ENVIRONMENT",
    "TOKEN_ENVIRONMENT",
    "USERS_ENVIRONMENT",
    "Authenticator",
    "Signer",
    "User",
    "Users",
    "from_environment",
]

TOKEN_ENVIRONMENT = "STATEMACHINE_TOKEN"
USERS_ENVIRONMENT = "STATEMACHINE_USERS"
SECRET_ENVIRONMENT = "STATEMACHINE_SECRET"
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+/=]{16,256}")
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


@attrs.frozen
class User:
    """An authenticated user: the name recorded as ``by`` on their decisions.

    Attributes:
        may_decide: False for a viewer, who reads the inbox and decides nothing.
        groups: the groups they are in, for requests' ``candidate_groups``.
    """

    name: str
    may_decide: bool = True
    groups: tuple[str, ...] = ()


class Authenticator(Protocol):
    """Turns a token into a user. `required` False: no token needed (the local user)."""

    @property
    def required(self) -> bool: ...

    def authenticate(self, token: str | None) -> User | None:
        """The user `token` belongs to, or None."""

    def user(self, name: str) -> User | None:
        """The user called `name` (a session names its user), or None once they are gone."""


class Users:
    """Users with bearer tokens; with none, the local user and no token.

    Tokens are compared by their SHA-256 digests, so a lookup takes the same time whatever
    the token's first characters.
    """

    def __init__(self, tokens: Mapping[str, User] | None = None) -> None:
        self._by_digest = {_digest(token): user for token, user in (tokens or {}).items()}
        self._by_name = {user.name: user for user in self._by_digest.values()}
        self._local = User(_local_name())

    @property
    def required(self) -> bool:
        return bool(self._by_digest)

    def authenticate(self, token: str | None) -> User | None:
        if not self.required:
            return self._local
        if not token:
            return None
        return self._by_digest.get(_digest(token))

    def user(self, name: str) -> User | None:
        if not self.required:
            return self._local if name == self._local.name else None
        return self._by_name.get(name)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _local_name() -> str:
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name for this uid (a container)
        return "local"
    return name if _NAME.fullmatch(name) else "local"


def from_environment(environ: Mapping[str, str] | None = None) -> Users:
    """The users the environment names: ``STATEMACHINE_USERS`` (``alice:TOKEN,bob:TOKEN,
    carol:TOKEN:viewer``, and groups after a fourth colon: ``dana:TOKEN:reviewer:legal+ops``),
    else ``STATEMACHINE_TOKEN`` (one user, ``reviewer``), else none.

    Raises:
        InvalidArgument: a malformed entry, a short token (16 characters at least), or a
            name or token given twice.
    """
    environ = os.environ if environ is None else environ
    listed, single = environ.get(USERS_ENVIRONMENT, ""), environ.get(TOKEN_ENVIRONMENT, "")
    tokens: dict[str, User] = {}
    entries = [entry.strip() for entry in listed.split(",") if entry.strip()]
    if not entries and single:
        entries = [f"reviewer:{single}"]
    for entry in entries:
        name, _, rest = entry.partition(":")
        token, _, rest = rest.partition(":")
        role, _, listed_groups = rest.partition(":")
        groups = tuple(group for group in listed_groups.split("+") if group)
        if (
            not _NAME.fullmatch(name)
            or role not in ("", "reviewer", "viewer")
            or not all(_NAME.fullmatch(group) for group in groups)
        ):
            raise InvalidArgument(
                f"{USERS_ENVIRONMENT} entries are name:token, name:token:viewer or "
                "name:token:reviewer:group+group, names of letters, digits and _.@-"
            )
        if not _TOKEN.fullmatch(token):
            raise InvalidArgument(f"the token of {name!r} must be 16 to 256 URL-safe characters")
        if token in tokens or any(user.name == name for user in tokens.values()):
            raise InvalidArgument(f"{name!r} or its token is given twice")
        tokens[token] = User(name, may_decide=role != "viewer", groups=groups)
    return Users(tokens)


class Signer:
    """Signs session cookies and CSRF tokens with a key: ``STATEMACHINE_SECRET`` if set (so
    sessions outlive a restart, and several servers share them), else a random one per
    process."""

    SESSION_SECONDS = 12 * 3600

    def __init__(self, key: bytes | None = None) -> None:
        given = os.environ.get(SECRET_ENVIRONMENT)
        self._key = key or (given.encode() if given else os.urandom(32))

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}\n{text}".encode(), hashlib.sha256).hexdigest()

    def session(self, user: User, now: float | None = None) -> str:
        """A cookie value naming `user` until it expires."""
        expires = int((time.time() if now is None else now) + self.SESSION_SECONDS)
        text = f"{user.name}|{expires}"
        return f"{text}|{self._mac('session', text)}"

    def session_user(self, cookie: str | None, now: float | None = None) -> str | None:
        """The user name a cookie holds, if it is ours and current."""
        if not cookie or cookie.count("|") != 2:
            return None
        name, expires, mac = cookie.split("|")
        # compare_digest refuses non-ASCII text (TypeError); our MACs are hex.
        if not mac.isascii() or not hmac.compare_digest(
            mac, self._mac("session", f"{name}|{expires}")
        ):
            return None
        if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
            return None
        return name

    def csrf(self, session: str | None) -> str:
        """The CSRF token of forms served to this session (or to a browser without one)."""
        return self._mac("csrf", session or "")

    def csrf_ok(self, session: str | None, token: object) -> bool:
        return (
            isinstance(token, str)
            and token.isascii()
            and hmac.compare_digest(token, self.csrf(session))
        )
