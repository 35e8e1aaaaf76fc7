from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """tasks stands on runs: runs signals the end of an attempt and each housekeeping
        pass, and the planner answers (runs never imports tasks)."""
        from runs.signals import attempt_changed, attempt_finished, housekeeping, workspace_ready

        attempt_finished.connect(_attempt_finished, dispatch_uid="tasks.attempt_ended")
        housekeeping.connect(_housekeeping, dispatch_uid="tasks.planner.admit")
        attempt_changed.connect(_attempt_changed, dispatch_uid="tasks.task_merged")
        workspace_ready.connect(_workspace_ready, dispatch_uid="tasks.images_copy")


def _attempt_finished(sender: Any, *, attempt_id: str, **kwargs: Any) -> None:
    from tasks.services import attempt_ended

    attempt_ended(attempt_id)


def _housekeeping(sender: Any, **kwargs: Any) -> None:
    """A safety net: waiting tasks get in, and queued drafts are sent, even if an attempt's
    end went unseen."""
    from tasks.planner import admit
    from tasks.services import queued_drafts_send

    admit()
    queued_drafts_send()


def _attempt_changed(sender: Any, *, attempt: Any, change: str, **kwargs: Any) -> None:
    """A merged attempt's task is done on the board."""
    if change == "merged":
        from tasks.services import task_merged

        task_merged(attempt.task_id)


def _workspace_ready(sender: Any, *, attempt: Any, path: Any, **kwargs: Any) -> None:
    """The task's images, where the prompt says they are (`tasks.images`)."""
    from tasks.images import images_copy

    images_copy(attempt, path)
