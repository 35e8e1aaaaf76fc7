"""The OpenAPI shapes of the `/api/v1/tasks` routes, the self-update drain and the project API's
tasks under `/api/projects/<p>/tasks` (`tasks.list_sql`, `tasks.selectors` and
`tasks.drain.gate_to_api` build the data)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from conductor_site.openapi import page_of
from runs.openapi import RunSerializer, RunSummarySerializer
from runs.selectors import UI_STATUSES
from tasks.list_sql import TASK_STATUS_FILTERS
from tasks.models import Gate, Task

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


class TaskMovedSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    column = serializers.ChoiceField(Task.Column.values)
    position = serializers.FloatField(help_text="Its place in the column: lower is higher up.")


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


# The project API's tasks.


class TaskItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    task_id = serializers.CharField()
    project_id = serializers.CharField()
    status = serializers.ChoiceField(TASK_STATUSES)
    last_activity = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    queue_position = serializers.IntegerField()
    depends_on = serializers.ListField(child=serializers.CharField())
    blocked_by = serializers.ListField(child=serializers.CharField())
    thread_parent = ThreadRefSerializer(allow_null=True)
    run_count = serializers.IntegerField()
    run_counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Agent runs by status (the web UI's words)."
    )
    done = serializers.BooleanField()
    last_run_status = serializers.ChoiceField(
        UI_STATUSES, allow_null=True, help_text="The web UI's words."
    )
    last_run_exit_code = serializers.IntegerField(
        allow_null=True, help_text="null until the latest run ended."
    )


class TaskDetailSerializer(serializers.Serializer):
    id = serializers.CharField()
    task_id = serializers.CharField()
    project_id = serializers.CharField()
    status = serializers.ChoiceField(TASK_STATUSES)
    state = serializers.ChoiceField(["running", "queued", "blocked", "idle"])
    done = serializers.BooleanField()
    depends_on = serializers.ListField(child=serializers.CharField())
    blocked_by = serializers.ListField(child=serializers.CharField())
    thread_parent = ThreadRefSerializer(allow_null=True)
    queue_position = serializers.IntegerField()
    last_activity = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    runs = RunSummarySerializer(many=True, help_text="Agent runs, oldest first.")
    attempt_ids = serializers.ListField(
        child=serializers.CharField(), help_text="Newest first; see /api/v1/attempts/{id}."
    )


class TaskResumedSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    resumed = serializers.BooleanField()


TASK_PAGE = page_of("TaskPage", TaskItemSerializer(many=True, help_text="Newest first."))


TASK_STATUS_PARAMETER = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    enum=list(TASK_STATUS_FILTERS),
    description="One status, `active` (running, queued or blocked) or `done` (DONE marker).",
)
