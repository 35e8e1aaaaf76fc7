from __future__ import annotations

from django.db import models

QUESTION = "QUESTION"  # an agent asking: its task needs input until a message answers it


class Message(models.Model):
    """One entry on a project's or a task's bus; `id` gives the append order."""

    msg_id = models.CharField(max_length=80, unique=True)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="messages"
    )
    task = models.ForeignKey(
        "tasks.Task", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    type = models.CharField(max_length=64, default="USER")
    body = models.TextField(blank=True)
    parents = models.JSONField(default=list, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["project", "task", "id"]),
            models.Index(fields=["project", "id"]),
        ]

    def __str__(self) -> str:
        return self.msg_id
