"""`/ws/projects/<project_id>/board/?after=<event id>`: a project's board, live
(`tasks.board_feed`; frames in docs/api/streams.md)."""

from __future__ import annotations

from conductor_site.ids import is_identifier
from conductor_site.live.consumers import FeedConsumer, Refused, cursor_of
from conductor_site.live.engine import Feed, db
from projects.models import Project
from tasks.board_feed import BoardFeed


def project_exists(project_id: str) -> bool:
    return Project.objects.filter(id=project_id).exists()


class BoardConsumer(FeedConsumer):
    async def feed(self, query: dict[str, str]) -> Feed:
        project_id = self.scope["url_route"]["kwargs"]["project_id"]
        if not is_identifier(project_id):
            raise Refused(4400, "invalid project id")
        after = cursor_of(query)
        if not await db(project_exists, project_id):
            raise Refused(4404, f"project {project_id!r} not found")
        return BoardFeed(project_id, after)
