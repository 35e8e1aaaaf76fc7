"""What the board does when `runs` tells of an attempt's change (`runs.events.attempt_changed`):
`runs` sits below `tasks` and never imports it."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from runs.events import attempt_changed
from runs.models import Attempt
from tasks.models import Task


@receiver(attempt_changed, sender=Attempt, dispatch_uid="tasks.merged_attempt_done")
def merged_attempt_done(sender: type[Attempt], attempt: Attempt, change: str, **_: Any) -> None:
    """A merged attempt's task moves to `done` on the board."""
    if change == "merged":
        Task.objects.filter(id=attempt.task_id).update(column=Task.Column.DONE)
