"""`/ws/projects/<p>/messages/?after=<msg_id>` and `/ws/projects/<p>/tasks/<t>/messages/`:
the buses over a WebSocket, the same feed as their SSE streams (`messagebus.streams`). A
frame wraps the message (`{"type": "message", "message": <list item>, "cursor": <msg_id>}`):
the item has a `type` of its own (`FACT`, ...)."""

from __future__ import annotations

from functools import partial
from typing import Any

from conductor_site.ids import is_identifier
from conductor_site.live.consumers import FeedConsumer, Refused
from conductor_site.live.engine import Feed, FeedEvent, db
from messagebus.selectors import BusNotFound, UnknownCursor, messages_after
from messagebus.streams.messages import BusFeed


class BusConsumer(FeedConsumer):
    def frame(self, event: FeedEvent) -> dict[str, Any]:
        return {"type": "message", "message": event.data, "cursor": event.id}

    async def feed(self, query: dict[str, str]) -> Feed:
        kwargs = self.scope["url_route"]["kwargs"]
        project_id, task_id = kwargs["project_id"], kwargs.get("task_id")
        after = query.get("after") or None
        for value in (project_id, task_id, after):
            if value is not None and not is_identifier(value):
                raise Refused(4400, "invalid project id, task id or cursor")
        bus = partial(messages_after, project_id=project_id, task_id=task_id, after=after)
        try:  # the bus exists and so does the cursor
            await db(partial(bus, limit=1))
        except (BusNotFound, UnknownCursor) as exc:
            raise Refused(4404, str(exc)) from exc
        return BusFeed(project_id, task_id, after)
