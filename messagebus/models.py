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


class OpenQuestion(models.Model):
    """A `QUESTION` on a task's bus that no message has answered yet (none names it in its
    `parents`): its task "needs input", the board's badge. A row of its own, made and removed
    by `messagebus.services` as questions and answers are appended, so that the appends of
    every other message write nothing more and the board reads a page's badges in one join."""

    message = models.OneToOneField(
        Message, primary_key=True, on_delete=models.CASCADE, related_name="open_question"
    )
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="open_questions")

    def __str__(self) -> str:
        return f"{self.task_id}: {self.message_id}"
