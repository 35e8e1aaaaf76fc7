"""The event log: every global change (a task's, an attempt's, a run's) as a row.

Why here, in `conductor_site`: the rows are written by `tasks` and `runs` in the transaction of
their own state change, and `conductor_site` is the floor both stand on (no app may import one
above it). Why plain ids, not foreign keys: a deleted task keeps its history, and writing an
event never locks or joins the rows it names. Log chunks and bus messages are not copied here:
they are rows of their own already.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    project_id = models.CharField(max_length=128, blank=True)
    task_id = models.CharField(max_length=128, blank=True)
    attempt_id = models.CharField(max_length=64, blank=True)
    run_id = models.CharField(max_length=64, blank=True)
    type = models.CharField(max_length=32)
    payload = models.JSONField()

    class Meta:
        indexes = [
            models.Index(fields=["project_id", "id"]),
            models.Index(fields=["type", "id"]),
            models.Index(fields=["at"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class EventPruning(models.Model):
    """One row: how far the log was pruned. A cursor below `through_id` is refused, since the
    events after it were deleted (Zulip's rule: the client starts over)."""

    through_id = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True)
