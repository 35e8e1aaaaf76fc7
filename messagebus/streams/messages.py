"""The message bus streams: `GET /api/v1/messages/stream?project_id=P[&task_id=T]`,
`GET /api/projects/<p>/messages/stream` and `GET /api/projects/<p>/tasks/<t>/messages/stream`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any, cast

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from conductor_site.errors import error_json
from conductor_site.live.engine import Batch, FeedEvent, db
from conductor_site.live.events import BusMessage, LiveEvent, bus_group
from conductor_site.live.sse import cursor_param, refused, sse_response
from conductor_site.live.subscription import Subscription
from messagebus.selectors import BusNotFound, UnknownCursor, message_to_api, messages_after


def _bus_after(project_id: str, task_id: str | None, after: str | None) -> list[tuple[str, dict]]:
    messages = messages_after(project_id=project_id, task_id=task_id, after=after)
    return [(m.msg_id, message_to_api(m)) for m in messages]


class BusFeed:
    """Each message as `id: <msg_id>` + `data: <list item>`. A doorbell that names the last
    message sent as the one before it is sent as it is; any other (a gap: a doorbell lost,
    or rung out of order) re-reads the database after the last id sent: appends are
    serialized, so nothing commits behind it. Once the bus is deleted: `event: done`, end."""

    def __init__(self, project_id: str, task_id: str | None, after: str | None) -> None:
        self.groups = [bus_group(project_id, task_id)]
        self.finished = False
        self.subscription: Subscription | None = None
        self.project_id = project_id
        self.task_id = task_id
        self.last = after

    def replay(self) -> AsyncIterator[Batch]:
        return self._catch_up()

    def resync(self) -> AsyncIterator[Batch]:
        return self._catch_up()

    async def live(self, messages: list[LiveEvent], lost: bool) -> AsyncIterator[Batch]:
        bells = [cast(BusMessage, m) for m in messages if m["type"] == "bus.message"]
        items = None if lost else self._chained(bells)
        if items:
            self.last = items[-1]["msg_id"]
            yield [FeedEvent(item, id=item["msg_id"]) for item in items]
        elif items is None:
            async for batch in self._catch_up():
                yield batch

    def _chained(self, bells: list[BusMessage]) -> list[dict[str, Any]] | None:
        """The doorbells' messages not sent yet, if each names the one before it (`after`)
        as the last one sent: then nothing can be missing. None: read the database."""
        items: list[dict[str, Any]] = []
        last = self.last
        for bell in bells:
            if last is not None and bell["msg_id"] <= last:
                continue  # sent already (msg_id order is append order)
            if bell.get("after", "") != last:  # a doorbell without `after`: read the database
                return None
            items.append(bell["message"])
            last = bell["msg_id"]
        return items

    async def _catch_up(self) -> AsyncIterator[Batch]:
        try:
            items = await db(_bus_after, self.project_id, self.task_id, self.last)
        except (BusNotFound, UnknownCursor):  # the project, task or cursor was deleted
            self.finished = True
            yield [FeedEvent("{}", name="done")]  # the CLI stops on it instead of reconnecting
            return
        if items:
            self.last = items[-1][0]
            yield [FeedEvent(item, id=msg_id) for msg_id, item in items]


async def _bus_stream(
    request: HttpRequest, project_id: str, task_id: str | None
) -> HttpResponseBase:
    after = cursor_param(request, "after", "since")
    if refusal := refused(request, project_id=project_id, task_id=task_id, after=after):
        return refusal
    try:  # the bus exists and so does the cursor
        await db(
            partial(messages_after, project_id=project_id, task_id=task_id, after=after, limit=1)
        )
    except UnknownCursor as exc:
        return error_json(404, str(exc), msg_id=exc.msg_id)
    except BusNotFound as exc:
        return error_json(404, str(exc))
    return sse_response(BusFeed(project_id, task_id, after))


@csrf_exempt  # GET only: anything else is a 405 from the view
async def messages_stream(request: HttpRequest) -> HttpResponseBase:
    project_id = request.GET.get("project_id", "")
    if not project_id and request.method == "GET":
        return error_json(400, "project_id is required")
    return await _bus_stream(request, project_id, request.GET.get("task_id") or None)


@csrf_exempt
async def project_messages_stream(request: HttpRequest, project_id: str) -> HttpResponseBase:
    return await _bus_stream(request, project_id, None)


@csrf_exempt
async def task_messages_stream(
    request: HttpRequest, project_id: str, task_id: str
) -> HttpResponseBase:
    return await _bus_stream(request, project_id, task_id)
