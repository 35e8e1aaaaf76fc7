from __future__ import annotations

import re

from django.core.validators import RegexValidator
from django.db import models

from conductor_site.ids import identifier_validator
from tasks.loop import Loop, loop_of


class Task(models.Model):
    class Column(models.TextChoices):
        TODO = "todo"
        IN_PROGRESS = "inprogress"
        IN_REVIEW = "inreview"
        DONE = "done"
        CANCELLED = "cancelled"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="tasks")
    task_id = models.CharField(max_length=128, validators=[identifier_validator])
    title = models.CharField(max_length=300, blank=True)
    prompt = models.TextField()
    agent_type = models.CharField(max_length=128, help_text="An agent type or profile name.")
    column = models.CharField(max_length=16, choices=Column.choices, default=Column.TODO)
    position = models.FloatField(default=0)
    priority = models.IntegerField(default=0)
    depends_on = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)
    thread_parent = models.JSONField(
        null=True, blank=True, help_text="The QUESTION/FACT message this task answers."
    )
    parent_attempt = models.ForeignKey(
        "runs.Attempt",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="child_tasks",
        help_text="The attempt this subtask was made from: its attempts start from its branch.",
    )
    done_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Since when the agent's DONE marker is in the task folder, as the worker "
        "saw it when the task's last run ended; cleared when resume removes it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "task_id"], name="task_unique_in_project")
        ]
        indexes = [
            models.Index(fields=["project", "column", "position"]),
            # The task lists: a project's tasks by creation time, newest or oldest first.
            models.Index(fields=["project", "created_at", "id"], name="task_project_created"),
            # The task form's "depends on" list: the most recently changed, read on every board.
            models.Index(fields=["project", "updated_at"], name="task_project_updated"),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.task_id}"

    @property
    def is_bus_only(self) -> bool:
        """Made by a message posted to an unknown task; `POST /api/v1/tasks` fills it in."""
        return not self.agent_type

    @property
    def is_root(self) -> bool:
        """Root tasks count against `max_concurrent_root_tasks` and the drain; threaded
        answers and tasks that depend on others do not (they are started by root work)."""
        return not self.thread_parent and not self.depends_on

    @property
    def loop(self) -> Loop | None:
        """The Ralph loop settings (`config.loop`: true or an object), None without a loop."""
        return loop_of(self.config)


class Gate(models.Model):
    """The one admission gate shared by root-task launches and the self-update drain: both
    lock this row, so no root start is admitted once a drain has begun."""

    class State(models.TextChoices):
        IDLE = "idle"
        DEFERRED = "deferred"
        APPLYING = "applying"
        FAILED = "failed"

    state = models.CharField(max_length=16, choices=State.choices, default=State.IDLE)
    binary_path = models.CharField(max_length=4096, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    active_runs_at_request = models.IntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"gate ({self.state})"

    @property
    def draining(self) -> bool:
        return self.state in (self.State.DEFERRED, self.State.APPLYING)


TAG_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


class Tag(models.Model):
    """A reusable prompt snippet: `@name` in a submitted prompt becomes `content`
    (`tasks.tags.prompt_expand`)."""

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(TAG_NAME_RE, "must be 1-64 of A-Z, a-z, 0-9, '-' or '_'")],
    )
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"@{self.name}"


class Image(models.Model):
    """An image attached to a task: its file is `<task's project dir>/.images/<file_name>`
    (`tasks.images`), a name Conductor made, never the client's."""

    id = models.CharField(primary_key=True, max_length=64)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="images")
    file_name = models.CharField(max_length=80, unique=True)
    original_name = models.CharField(max_length=255, blank=True)
    mime_type = models.CharField(max_length=32)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.id


class Draft(models.Model):
    """The follow-up a user is writing for an attempt, one per attempt, versioned: a save
    names the version it was read at, so two editors cannot overwrite each other unseen
    (`tasks.drafts.draft_save`)."""

    attempt = models.OneToOneField(
        "runs.Attempt", on_delete=models.CASCADE, primary_key=True, related_name="draft"
    )
    prompt = models.TextField(blank=True)
    queued = models.BooleanField(
        default=False, help_text="To be sent as the attempt's next follow-up (not sent yet)."
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "attempt_id"]

    def __str__(self) -> str:
        return f"draft of {self.attempt_id} (v{self.version})"


class OpenQuestion(models.Model):
    """A `QUESTION` on a bus that no message has answered yet (none names it in its
    `parents`). On a task's bus the task "needs input", the board's badge; on the project's
    own bus (`task` None) no task does, and the project's messages page highlights it. A row
    of its own, made and removed by `messagebus.services` as questions and answers are
    appended, so that the appends of every other message write nothing more and the board
    reads a page's badges in one join."""

    message = models.OneToOneField(
        "messagebus.Message",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="open_question",
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="open_questions"
    )

    def __str__(self) -> str:
        return f"{self.task_id or 'project'}: {self.message_id}"
