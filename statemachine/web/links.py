"""Decision links: a URL that lets its holder decide one pending request, once, without
signing in (for a message that asks someone to decide).

The token is the claims, in JSON, and their HMAC-SHA256 under ``STATEMACHINE_LINK_KEY``: the
run, the request, the run's version when the link was made, an expiry, the decisions it
allows, who it was made for, and a nonce. Opening a link shows what it decides and asks to
confirm: a GET never decides, since mail scanners fetch links. The POST decides through the
store's compare-and-set, with the nonce as the decision id, so the link decides once: sent
again it answers "used" and changes nothing, and so does any other link of the same nonce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable

import attrs

from statemachine.core.decisions import Verdict
from statemachine.core.errors import InvalidArgument, StateMachineError
from statemachine.core.record import RunRecord

__all__ = [
    "KEY_ENVIRONMENT",
    "Claims",
    "LinkExpired",
    "LinkInvalid",
    "Links",
    "decision_links",
    "link_key",
]

KEY_ENVIRONMENT = "STATEMACHINE_LINK_KEY"
LINKED = (Verdict.confirm, Verdict.reject)
"""The decisions a link can carry: a yes or a no (with feedback), nothing that needs a form."""


class LinkInvalid(StateMachineError):
    """The token was not made with this key, or was altered, or is malformed."""


class LinkExpired(StateMachineError):
    """The link's time is up."""


@attrs.frozen
class Claims:
    """What a link allows."""

    run_id: str
    request_id: str
    version: int
    expires: int
    """Unix seconds."""
    decisions: tuple[str, ...]
    actor: str
    nonce: str

    @property
    def decision_id(self) -> str:
        return f"link-{self.nonce}"


def link_key() -> bytes:
    """The key in ``STATEMACHINE_LINK_KEY``.

    Raises:
        InvalidArgument: it is not set, or shorter than 32 characters.
    """
    key = os.environ.get(KEY_ENVIRONMENT, "")
    if len(key) < 32:
        raise InvalidArgument(f"decision links need {KEY_ENVIRONMENT}: 32 characters or more")
    return key.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Links:
    """Makes and reads decision links under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, b"decision-link\n" + payload, hashlib.sha256).digest()

    def make(
        self,
        run: RunRecord,
        *,
        decisions: tuple[str, ...] = ("confirm", "reject"),
        seconds: float = 3 * 86400,
        actor: str = "link",
        now: float | None = None,
    ) -> str:
        """A token for the run's pending request.

        Raises:
            InvalidArgument: nothing is pending, a decision a link cannot carry, or a lifetime
                out of range.
        """
        gate = run.pending_gate
        if gate is None or gate.request is None:
            raise InvalidArgument(f"run {run.run_id!r} is not waiting for a decision")
        allowed = {verdict.value for verdict in LINKED}
        if not decisions or not set(decisions) <= allowed:
            raise InvalidArgument(f"a link carries {' or '.join(sorted(allowed))}")
        if not 0 < seconds <= 366 * 86400:
            raise InvalidArgument("a link lives more than 0 seconds and at most a year")
        claims = {
            "r": run.run_id, "q": gate.request.request_id, "v": run.version,
            "e": int((time.time() if now is None else now) + seconds),
            "d": list(dict.fromkeys(decisions)), "a": actor, "n": os.urandom(12).hex(),
        }  # fmt: skip
        payload = json.dumps(claims, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def read(self, token: str, now: float | None = None) -> Claims:
        """The claims of a token made with this key.

        Raises:
            LinkInvalid: forged, altered or malformed.
            LinkExpired: genuine, and past its expiry.
        """
        try:
            encoded, _, mac = token.partition(".")
            payload = _unb64(encoded)
            genuine = hmac.compare_digest(_unb64(mac), self._mac(payload))
        except (ValueError, binascii.Error):
            genuine = False
        if not genuine:
            raise LinkInvalid("this link is not valid: it was altered, or not made here")
        fields = json.loads(payload)
        claims = Claims(fields["r"], fields["q"], fields["v"], fields["e"], tuple(fields["d"]),
                        fields["a"], fields["n"])  # fmt: skip
        if claims.expires < (time.time() if now is None else now):
            raise LinkExpired("this link has expired")
        return claims


def decision_links(
    base_url: str, key: bytes | None = None, *, seconds: float = 3 * 86400
) -> Callable[[RunRecord], dict[str, str]]:
    """What a `Webhook` puts in its notices (``Webhook(url, links=decision_links(...))``): a
    signed, single-use link to confirm or reject the pending request on the inbox at
    `base_url` (key: `link_key()`, the ``STATEMACHINE_LINK_KEY`` the server reads too).
    Requests a link cannot decide (input, routes, errors) get none."""
    links = Links(key if key is not None else link_key())
    base = base_url.rstrip("/")

    def make(run: RunRecord) -> dict[str, str]:
        gate = run.pending_gate
        if gate is None or gate.request is None:
            return {}
        if gate.request.kind.value not in ("confirmation", "review"):
            return {}
        return {"decide": f"{base}/links/{links.make(run, seconds=seconds)}"}

    return make
