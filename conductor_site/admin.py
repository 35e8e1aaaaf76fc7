"""What the apps' admins share."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class DeletedThroughTheApi:
    """No delete from the admin for rows that the API and the dashboard delete: theirs
    refuses while something runs or lands, removes the data folder and the worktrees, and
    holds the bus's lock (`tasks.services.task_delete`, `projects.services.project_delete`,
    `runs.services.run_delete`). The admin's would skip all of it: a running agent would
    lose its rows mid-write, a folder left behind would carry a `DONE` marker over to a task
    made again with its id, and an agent's post meanwhile would fail its foreign key."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
