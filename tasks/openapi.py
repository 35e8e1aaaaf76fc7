"""The OpenAPI shapes of the `/api/v1/tasks` routes and the self-update drain
(`tasks.selectors.tasks_to_api` and `tasks.drain.gate_to_api` build the data)."""

from __future__ import annotations

from rest_framework import serializers

from runs.openapi import RunSerializer
from tasks.models import Gate

# `tasks.selectors.task_status` (CONTRACT.md, AMB-34).
TASK_STATUSES = ["running", "queued", "blocked", "completed", "failed", "idle"]
GATE_STATES = Gate.State.choices


class ThreadRefSerializer(serializers.Serializer):
    """The QUESTION or FACT message a threaded task answers."""

    project_id = serializers.CharField()
    task_id = serializers.CharField()
    run_id = serializers.CharField()
    message_id = serializers.CharField()


class TaskSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    status = serializers.ChoiceField(TASK_STATUSES)
    queue_position = serializers.IntegerField(help_text="1..N while queued, else 0.")
    last_activity = serializers.DateTimeField()
    depends_on = serializers.ListField(child=serializers.CharField())
    blocked_by = serializers.ListField(
        child=serializers.CharField(), help_text="The task ids of depends_on not completed yet."
    )
    thread_parent = ThreadRefSerializer(allow_null=True)
    done = serializers.BooleanField(help_text="The agent wrote the DONE marker.")
    runs = RunSerializer(many=True, help_text="Agent runs, newest first.")


class TaskListSerializer(serializers.Serializer):
    tasks = TaskSerializer(many=True, help_text="Oldest first.")


class TaskStartedSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    run_id = serializers.CharField()
    status = serializers.ChoiceField(["started", "queued"])
    queue_position = serializers.IntegerField()
    depends_on = serializers.ListField(child=serializers.CharField())


class TaskCancelledSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["cancelled"])
    stopped_runs = serializers.ListField(
        child=serializers.CharField(), help_text="The runs this stopped."
    )


class GateSerializer(serializers.Serializer):
    """The admission gate that a self-update drains."""

    state = serializers.ChoiceField(GATE_STATES)
    active_runs_now = serializers.IntegerField()
    active_runs_at_request = serializers.IntegerField()
    binary_path = serializers.CharField()
    requested_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    last_note = serializers.CharField()
    last_error = serializers.CharField(
        required=False, help_text="When the last update failed (state `failed`)."
    )
