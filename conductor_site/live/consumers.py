"""WebSocket transport of the feed engine: a consumer authenticates in `connect()`, runs one
feed through `follow()` and sends each of its events as a JSON frame (the paperless
`StatusConsumer` shape). A subclass only says which feed a connection asks for.

Close codes (after the handshake, so a client can read them): 4400 a bad id or cursor, 4401
no valid API key, 4403 a foreign `Origin`, 4404 an unknown id; 1000 once the feed ended. A
client that cannot keep up gets `{"type":"lagged"}` and the rest from the database, or, when it
stopped reading, its connection is dropped (`conductor_site.live.backpressure`).
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
from conductor_site.live.backpressure import Pace, keep_up
from conductor_site.live.engine import Feed, FeedEvent, follow, framed
from conductor_site.live.sse import keepalive_seconds

FRAMES_PER_CHECK = 500  # frames sent between two looks at the client's send queue


class Refused(Exception):
    """The connection asks for what cannot be streamed: closed with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def ws_frame(event: FeedEvent) -> dict[str, Any]:
    """A feed's event as one JSON frame: its payload (raw text as `{"type": name, "text"}`),
    with `cursor`, where it has one, to resume after it."""
    data = dict(event.data) if not isinstance(event.data, str) else {"text": event.data}
    if event.name is not None:
        data.setdefault("type", event.name)
    if event.id is not None:
        data["cursor"] = event.id
    return data


def ws_text(event: FeedEvent) -> str:
    """The frame's text, as `send_json` encodes it."""
    return json.dumps(ws_frame(event))


class FeedConsumer(AsyncJsonWebsocketConsumer):
    """Accepts, checks the key and the origin, then follows the subclass's feed."""

    # No channel of its own: the feed's `Subscription` joins the layer, and goes on from the
    # database when the layer is down, where a consumer's own `new_channel()` would hang.
    channel_layer_alias = "none (the feed subscribes)"
    _pump: asyncio.Task[None] | None = None

    async def feed(self, query: dict[str, str]) -> Feed:
        """The feed this connection asks for (`self.scope["url_route"]`); Refused if none."""
        raise NotImplementedError

    async def connect(self) -> None:
        await self.accept()
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]
        }
        try:
            if not key_accepted(presented_key(headers)):
                raise Refused(4401, "a valid API key is required")
            if not origin_allowed(headers.get("origin"), headers.get("host")):
                raise Refused(4403, "foreign origin")
            feed = await self.feed(query_of(self.scope))
        except Refused as refusal:
            await self.close(code=refusal.code, reason=str(refusal))
            return
        self._pump = asyncio.create_task(self._send_feed(feed))

    async def disconnect(self, code: int) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with suppress(asyncio.CancelledError):
                await self._pump

    async def _send_feed(self, feed: Feed) -> None:
        async with aclosing(follow(feed, keepalive_seconds())) as batches:
            async for batch in batches:
                for start in range(0, len(batch), FRAMES_PER_CHECK):
                    for event in batch[start : start + FRAMES_PER_CHECK]:
                        await self.send(text_data=framed(event, "ws", ws_text))
                    pace = await keep_up(feed.subscription)
                    if pace is Pace.STALLED:
                        return  # dropped: there is nobody to close it with
                    if pace is Pace.LAGGED:
                        await self.send_json({"type": "lagged"})
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
