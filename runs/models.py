from __future__ import annotations

from datetime import timedelta

from django.db import models

from conductor_site.ids import new_attempt_id, new_run_id


class RunStatus(models.TextChoices):
    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    STOPPED = "stopped"
    CRASHED = "crashed"


ACTIVE_STATUSES = (RunStatus.CREATED, RunStatus.QUEUED, RunStatus.RUNNING)
TERMINAL_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.CRASHED)
# An attempt's operation slot (`runs.services.attempt_operation_begin`: a merge, a rebase, an
# archive) held longer than this is a dead process's: it is taken over, and is no work.
OPERATION_STALE = timedelta(minutes=15)


class MergeStrategy(models.TextChoices):
    SQUASH = "squash"
    MERGE = "merge"
    REBASE = "rebase"


class Attempt(models.Model):
    """One try at a task: a worktree on its own branch (or the task folder, without a repo)."""

    id = models.CharField(primary_key=True, max_length=64, default=new_attempt_id)
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="attempts")
    agent = models.CharField(max_length=128, help_text="Agent type or profile name.")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.CREATED)
    worktree_path = models.CharField(max_length=4096, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    base_branch = models.CharField(max_length=255, blank=True)
    target_branch = models.CharField(max_length=255, blank=True)
    base_commit = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="Worker owning the worktree.")
    admitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the planner let it start; empty while waiting."
    )
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its start was last handed to the broker."
    )
    error_summary = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    merge_commit = models.CharField(
        max_length=64, blank=True, help_text="The commit its last merge put on the target."
    )
    merge_strategy = models.CharField(max_length=16, choices=MergeStrategy.choices, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    pr_url = models.CharField(max_length=2048, blank=True)
    pr_number = models.IntegerField(null=True, blank=True)
    pr_state = models.CharField(max_length=16, blank=True, help_text="open, closed or merged.")
    operation = models.CharField(
        max_length=32,
        blank=True,
        help_text="The landing operation running on it now (merge, rebase, push, ...); one at "
        "a time, taken by a conditional update.",
    )
    operation_started_at = models.DateTimeField(null=True, blank=True)
    worktree_archived_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its worktree was removed (its branch kept); empty while it is there.",
    )
    worktree_archived_reason = models.CharField(
        max_length=16, blank=True, help_text="requested, merged, idle or deleted."
    )
    worktree_disk_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="What its worktree held when last measured."
    )
    worktree_measured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["admitted_at", "status", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def short_id(self) -> str:
        return self.id.rsplit("-", 1)[-1]

    @property
    def target(self) -> str:
        """The branch the attempt's work is compared with and merged into."""
        return self.target_branch or self.task.project.default_branch or self.base_branch


class Run(models.Model):
    """One process inside an attempt."""

    class Kind(models.TextChoices):
        SETUP = "setup"
        AGENT = "agent"
        CLEANUP = "cleanup"
        DEV_SERVER = "dev_server"

    id = models.CharField(primary_key=True, max_length=64, default=new_run_id)
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.AGENT)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.CREATED)
    previous_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="followups"
    )
    prompt = models.TextField(blank=True)
    cwd = models.CharField(max_length=4096, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    agent_session_id = models.CharField(max_length=255, blank=True)
    agent_version = models.CharField(max_length=255, blank=True)
    error_summary = models.TextField(blank=True)
    head_before = models.CharField(max_length=64, blank=True)
    head_after = models.CharField(max_length=64, blank=True)
    url = models.CharField(
        max_length=2048, blank=True, help_text="A dev server's: the first URL it printed."
    )
    log_bytes = models.BigIntegerField(default=0)
    log_lines = models.BigIntegerField(default=0)
    log_truncated = models.BooleanField(default=False)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A follow-up: when it was last handed to the broker (or is due, if delayed).",
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a retry from this run or an earlier one set its work aside: kept, "
        "hidden from the attempt's run list by default, never resumed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["attempt", "kind"]),
            models.Index(fields=["worker", "status"]),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Worker(models.Model):
    """A worker's last sign of life. Only the worker that made an attempt's worktree can run
    its follow-ups, so a follow-up waiting for a worker that is gone must be told so."""

    name = models.CharField(primary_key=True, max_length=255)
    heartbeat_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class LogChunk(models.Model):
    """A batch of complete lines printed by a run; `seq` is contiguous from 1 per run."""

    class Stream(models.TextChoices):
        STDOUT = "stdout"
        STDERR = "stderr"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.IntegerField()
    stream = models.CharField(max_length=8, choices=Stream.choices)
    text = models.TextField()
    line_count = models.IntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="logchunk_run_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq}"


class DiffSnapshot(models.Model):
    """An attempt's diff against its target as it stood when a run ended, so that any server
    process can answer for it without the worktree (runs/diffs.py). `files` holds each
    file without its contents, `contents` the contents in the same order: a stats-only read
    leaves the large column unread."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="diff_snapshots")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    target_branch = models.CharField(max_length=255)
    base_commit = models.CharField(max_length=64, help_text="The merge-base with the target.")
    head_commit = models.CharField(max_length=64)
    files = models.JSONField(default=list)
    contents = models.JSONField(default=list)
    files_changed = models.IntegerField(default=0)
    additions = models.IntegerField(default=0)
    deletions = models.IntegerField(default=0)

    class Meta:
        ordering = ["attempt", "-created_at", "-id"]
        indexes = [models.Index(fields=["attempt", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.attempt_id}@{self.head_commit[:12]}"
