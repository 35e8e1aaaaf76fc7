"""The OpenAPI shapes of the project API under `/api/projects` (`projects.selectors` builds the
data; these describe it)."""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from conductor_site.openapi import bool_parameter, id_parameter, int_parameter, page_of
from projects.selectors import TASK_STATUS_FILTERS
from runs.files import RUN_FILES
from runs.models import RunStatus
from runs.openapi import RunSerializer
from tasks.openapi import TASK_STATUSES, ThreadRefSerializer

# Projects.


class ProjectSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    last_activity = serializers.DateTimeField(allow_null=True)
    task_count = serializers.IntegerField()
    project_root = serializers.CharField(help_text='"" for a project without a repository.')


class ProjectListSerializer(serializers.Serializer):
    projects = ProjectSummarySerializer(many=True, help_text="Most recently active first.")


class ProjectDetailSerializer(ProjectSummarySerializer):
    name = serializers.CharField()
    default_branch = serializers.CharField()
    has_repository = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ProjectDeletedSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    deleted_tasks = serializers.IntegerField()
    freed_bytes = serializers.IntegerField()


class HomeDirsSerializer(serializers.Serializer):
    dirs = serializers.ListField(child=serializers.CharField())


class ProjectStatsSerializer(serializers.Serializer):
    """Agent runs by status: `crashed_runs` counts stopped and crashed ones (AMB-5)."""

    project_id = serializers.CharField()
    total_tasks = serializers.IntegerField()
    total_runs = serializers.IntegerField()
    running_runs = serializers.IntegerField()
    completed_runs = serializers.IntegerField()
    failed_runs = serializers.IntegerField()
    crashed_runs = serializers.IntegerField()
    message_bus_files = serializers.IntegerField()
    message_bus_total_bytes = serializers.IntegerField()


class GcSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    deleted_runs = serializers.IntegerField()
    freed_bytes = serializers.IntegerField()
    dry_run = serializers.BooleanField()


# Runs.


RUN_FILE_NAMES = list(RUN_FILES)


class RunFileSerializer(serializers.Serializer):
    name = serializers.ChoiceField(RUN_FILE_NAMES)
    # A field named like Field.label: DRF takes it out of the class, the stubs do not know.
    label = serializers.CharField()  # type: ignore[assignment]
    size = serializers.IntegerField(help_text="In bytes.")


class RunSummarySerializer(RunSerializer):
    """The project API's run: always `exit_code` (-1 until it ended) and `end_time`."""

    id = serializers.CharField(help_text="The same as run_id.")
    end_time = serializers.DateTimeField(allow_null=True)
    exit_code = serializers.IntegerField()
    parent_run_id = serializers.CharField(
        allow_null=True, help_text="The run whose question this task's thread answers."
    )
    previous_run_id = serializers.CharField(allow_null=True)
    files = RunFileSerializer(many=True, help_text="The run's files that exist.")


class ProjectRunSerializer(RunSummarySerializer):
    cwd = serializers.CharField()
    pid = serializers.IntegerField(allow_null=True)
    pgid = serializers.IntegerField(allow_null=True)
    worker = serializers.CharField()


class FlatRunSerializer(serializers.Serializer):
    id = serializers.CharField()
    task_id = serializers.CharField()
    agent = serializers.CharField()
    status = serializers.ChoiceField(RunStatus.choices)
    exit_code = serializers.IntegerField()
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField(required=False)
    parent_run_id = serializers.CharField(required=False)
    previous_run_id = serializers.CharField(required=False)


class FlatRunsSerializer(serializers.Serializer):
    runs = FlatRunSerializer(many=True, help_text="Oldest first.")


class RunStoppingSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["stopping"])
    run_id = serializers.CharField()


# Tasks.


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
        child=serializers.IntegerField(), help_text="Agent runs by status."
    )
    done = serializers.BooleanField()
    last_run_status = serializers.ChoiceField(RunStatus.choices, allow_null=True)
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


class TaskResumedSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    resumed = serializers.BooleanField()


TASK_PAGE = page_of("TaskPage", TaskItemSerializer(many=True, help_text="Newest first."))
RUN_PAGE = page_of("RunPage", RunSummarySerializer(many=True, help_text="Newest first."))
PAGE_PARAMETERS = [
    int_parameter("limit", "Page size (default 50, at most 500: larger is capped).", minimum=1),
    int_parameter("offset", "Items to skip.", minimum=0),
]
TASK_STATUS_PARAMETER = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    enum=list(TASK_STATUS_FILTERS),
    description="One status, `active` (running, queued or blocked) or `done` (DONE marker).",
)
FLAT_PARAMETERS = [
    bool_parameter("active_only", "Only active runs, plus the selected task's latest."),
    id_parameter("selected_task_id", "With active_only: also this task's latest runs."),
    int_parameter("selected_task_limit", "How many of them (default and most 200).", minimum=0),
]
GC_PARAMETERS = [
    OpenApiParameter(
        "older_than",
        OpenApiTypes.STR,
        description="A Go duration (`168h`, `1h30m`, `0`; also `d`), at most 876000h. "
        "Default 168h.",
    ),
    bool_parameter("dry_run", "Only count what would be deleted."),
    bool_parameter("keep_failed", "Keep failed and crashed runs."),
]


def file_parameters(names: Iterable[str]) -> list[OpenApiParameter]:
    """`?name=` (one of `names`, else 400) and `?tail=` of the file routes."""
    return [
        OpenApiParameter("name", OpenApiTypes.STR, enum=list(names), required=True),
        int_parameter("tail", "Only the last N lines.", minimum=0),
    ]


class FileSerializer(serializers.Serializer):
    """A task or run file as JSON (for the web UI, or `Accept: application/json`)."""

    name = serializers.CharField()
    content = serializers.CharField()
    modified = serializers.DateTimeField(allow_null=True)
    size_bytes = serializers.IntegerField(help_text="Of the whole file.")


FILE_RESPONSES = {
    (200, "text/plain"): OpenApiTypes.STR,
    (200, "application/json"): FileSerializer,
}
