"""WebSocket tickets: what a browser without a session presents instead of the API key.

A browser's `WebSocket` cannot send an `Authorization` header, and the key must never be in a
URL (it would be logged). So a client holding the key asks `POST /api/v1/ws-tickets` for a
ticket and opens the socket with `?ticket=`. A ticket is a random nonce signed with the
server's `SECRET_KEY` and the time (`TimestampSigner`), so any server of the deployment can
check it without a store; the salt holds a hash of the API key, so changing the key voids
every ticket out. It is valid `TICKET_SECONDS` and single-use on the server that takes it
(each process remembers the nonces it accepted until they expire: a stolen URL replayed on
the same server is refused; across servers a ticket is still bounded by its minute).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.signing import BadSignature, TimestampSigner
from django.utils import timezone

TICKET_SECONDS = 60


def _signer() -> TimestampSigner:
    key_hash = hashlib.sha256(str(settings.CONDUCTOR["API_KEY"]).encode()).hexdigest()
    return TimestampSigner(salt=f"conductor.ws-ticket.{key_hash}")


def ticket_issue() -> tuple[str, datetime]:
    """A new ticket and when it expires."""
    ticket = _signer().sign(secrets.token_urlsafe(18))
    return ticket, timezone.now() + timedelta(seconds=TICKET_SECONDS)


def ticket_accepted(ticket: str) -> bool:
    """The ticket is ours, younger than `TICKET_SECONDS`, and not used yet on this server."""
    try:
        nonce = _signer().unsign(ticket, max_age=TICKET_SECONDS)
    except BadSignature:  # SignatureExpired is one
        return False
    return _spent.claim(nonce)


class _Spent:
    """The nonces accepted in the last `TICKET_SECONDS` (older ones have expired anyway)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def claim(self, nonce: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._until = {n: t for n, t in self._until.items() if t > now}
            if nonce in self._until:
                return False
            self._until[nonce] = now + TICKET_SECONDS + 1
            return True


_spent = _Spent()
