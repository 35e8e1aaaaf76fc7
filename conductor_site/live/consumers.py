"""WebSocket transport of the feed engine: a consumer authenticates in `connect()`, runs one
feed through `follow()` and sends each of its events as a JSON frame (the paperless
`StatusConsumer` shape). A subclass only says which feed a connection asks for (and, where
its payloads need a wrapper, how an event becomes a frame).

A connection is let in by any of: the API key in a header (`Authorization: Bearer`,
`X-API-Key`), the dashboard's signed-in Django user (the session cookie, read by Channels'
`AuthMiddlewareStack` in `conductor_site.asgi`), or a ticket from `POST /api/v1/ws-tickets`
as `?ticket=` (`conductor_site.live.tickets`). Never the key in the URL.

Close codes (after the handshake, so a client can read them), each after one `error` frame in
the house error shape (`{"type": "error", "error", "code", "details"}`): 4400 a bad id or
cursor, 4401 no valid key, session or ticket, 4403 a foreign `Origin`, 4404 an unknown id,
4410 a cursor older than the kept history (start over); 1000 once the feed ended. A domain
refusal raised while the feed runs closes with 4000 + its HTTP status the same way.
A client that cannot keep up gets `{"type":"lagged"}` and the rest from the database, or,
when it stopped reading, its connection is dropped (`conductor_site.live.backpressure`).
"""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing, suppress
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from conductor_site.auth import key_accepted, presented_key
from conductor_site.errors import DomainError, error_body
from conductor_site.ids import is_identifier
from conductor_site.live.backpressure import Pace, keep_up
from conductor_site.live.engine import Feed, FeedEvent, follow, framed
from conductor_site.live.event_feed import EventLogFeed
from conductor_site.live.events import EVENTS_GROUP, RECORDED_TYPES
from conductor_site.live.history import EventFilter
from conductor_site.live.sse import keepalive_seconds
from conductor_site.live.tickets import ticket_accepted

CLOSE_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code

FRAMES_PER_CHECK = 500  # frames sent between two looks at the client's send queue


class Refused(Exception):
    """The connection asks for what cannot be streamed: closed with `code`."""

    def __init__(self, code: int, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.code = code
        self.details = details

    @property
    def reason(self) -> str:
        """The reason as a close frame can carry it (an id in it may be 128 characters)."""
        clipped = str(self).encode()[:CLOSE_REASON_BYTES]
        return clipped.decode(errors="ignore")


def ws_frame(event: FeedEvent) -> dict[str, Any]:
    """A feed's event as one JSON frame: its payload (raw text as `{"type": name, "text"}`),
    with `cursor`, where it has one, to resume after it."""
    data = dict(event.data) if not isinstance(event.data, str) else {"text": event.data}
    if event.name is not None:
        data.setdefault("type", event.name)
    if event.id is not None:
        data["cursor"] = event.id
    return data


class FeedConsumer(AsyncJsonWebsocketConsumer):
    """Accepts, checks the origin and who connects (key, session or ticket), then follows
    the subclass's feed."""

    # No channel of its own: the feed's `Subscription` joins the layer, and goes on from the
    # database when the layer is down, where a consumer's own `new_channel()` would hang.
    channel_layer_alias = "none (the feed subscribes)"
    _pump: asyncio.Task[None] | None = None

    async def feed(self, query: dict[str, str]) -> Feed:
        """The feed this connection asks for (`self.scope["url_route"]`); Refused if none."""
        raise NotImplementedError

    def frame(self, event: FeedEvent) -> dict[str, Any]:
        """The JSON frame of one of the feed's events."""
        return ws_frame(event)

    def _frame_text(self, event: FeedEvent) -> str:
        """The frame's text, as `send_json` encodes it."""
        return json.dumps(self.frame(event))

    async def connect(self) -> None:
        await self.accept()
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]
        }
        query = query_of(self.scope)
        try:
            if not origin_allowed(headers.get("origin"), headers.get("host")):
                raise Refused(4403, "foreign origin")  # first: another site spends no ticket
            if not self._authorized(headers, query):
                raise Refused(4401, "a valid API key, a signed-in session or a ticket is required")
            feed = await self.feed(query)
        except Refused as refusal:
            await self._refuse(refusal)
            return
        self._pump = asyncio.create_task(self._send_feed(feed))

    async def _refuse(self, refusal: Refused) -> None:
        """An `error` frame in the house shape, then the close with its code: Daphne does not
        pass a close frame's reason on, so the frame is where a client reads why."""
        body = error_body(refusal.code - 4000, str(refusal), refusal.details)
        await self.send_json({"type": "error", **body})
        await self.close(code=refusal.code, reason=refusal.reason)

    def _authorized(self, headers: dict[str, str], query: dict[str, str]) -> bool:
        """The key (or none is configured), else a signed-in user on this server's own origin
        (not even a CORS origin: another site's page may hold the user's cookie), else a fresh
        ticket: the ticket is spent only when nothing else let the connection in."""
        if key_accepted(presented_key(headers)):
            return True
        user = self.scope.get("user")
        origin = headers.get("origin")
        own_origin = origin is not None and urlsplit(origin).netloc == headers.get("host")
        if own_origin and user is not None and user.is_authenticated:
            return True
        return bool(query.get("ticket")) and ticket_accepted(query["ticket"])

    async def disconnect(self, code: int) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with suppress(asyncio.CancelledError):
                await self._pump

    async def _send_feed(self, feed: Feed) -> None:
        # Each `frame` of a consumer class is its own wire format: the text is made once per
        # event and format, and shared by every viewer of a shared batch (`SharedBatches`).
        wire = f"ws:{type(self).frame.__qualname__}"
        try:
            async with aclosing(follow(feed, keepalive_seconds())) as batches:
                async for batch in batches:
                    for start in range(0, len(batch), FRAMES_PER_CHECK):
                        for event in batch[start : start + FRAMES_PER_CHECK]:
                            await self.send(text_data=framed(event, wire, self._frame_text))
                        pace = await keep_up(feed.subscription)
                        if pace is Pace.STALLED:
                            return  # dropped: there is nobody to close it with
                        if pace is Pace.LAGGED:
                            await self.send_json({"type": "lagged"})
        except DomainError as exc:  # the feed cannot go on (a cursor that expired meanwhile)
            await self._refuse(Refused(4000 + exc.status_code, exc.message, **exc.details))
            return
        await self.close(code=1000)


def query_of(scope: dict[str, Any]) -> dict[str, str]:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {name: values[-1] for name, values in query.items()}


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """A browser sends `Origin`: it must be this server itself (the `Host` it connected to)
    or an origin CORS lets in (`CONDUCTOR_CORS_ORIGINS`), so another site's page cannot read
    a stream with the user's session. A client that is not a browser sends none, and proves
    itself by the key alone."""
    if origin is None:
        return True
    if urlsplit(origin).netloc == host or settings.CORS_ALLOW_ALL_ORIGINS:
        return True
    return origin in settings.CORS_ALLOWED_ORIGINS


def cursor_of(query: dict[str, str], what: str = "an event id") -> int | None:
    """A number `after` (an event id, an entry index), None without one; Refused 4400 for
    anything but up to 18 digits."""
    after = query.get("after", "")
    if after and not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise Refused(4400, f"invalid cursor {after[:40]!r}: expected {what}")
    return int(after) if after else None


def event_filter_of(query: dict[str, str]) -> EventFilter:
    """`project`, `task` and `type` as `GET /api/v1/events` reads them; Refused 4400."""
    for name in ("project", "task"):
        if name in query and not is_identifier(query[name]):
            raise Refused(4400, f"invalid {name} {query[name][:40]!r}")
    kind = query.get("type")
    if kind is not None and kind not in RECORDED_TYPES:
        raise Refused(4400, f"type must be one of {', '.join(RECORDED_TYPES)}")
    return EventFilter(project_id=query.get("project"), task_id=query.get("task"), type=kind)


class EventsConsumer(FeedConsumer):
    """`/ws/events/?project=&task=&type=&after=`: the global event log, live; its history
    after `after` first (4410 when that was pruned: start over)."""

    async def feed(self, query: dict[str, str]) -> Feed:
        return EventLogFeed([EVENTS_GROUP], event_filter_of(query), cursor_of(query))
