"""The OpenAPI shapes of the `/api/v1/runs` routes and `/api/v1/status` (`runs.selectors`
builds the data; these describe it)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from conductor_site.openapi import id_parameter, int_parameter
from runs.models import Run, RunStatus

RUN_KINDS = Run.Kind.choices


class RunSerializer(serializers.Serializer):
    """`runs.selectors.run_to_api`: `end_time` and `exit_code` only once the run ended."""

    run_id = serializers.CharField()
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    kind = serializers.ChoiceField(RUN_KINDS)
    status = serializers.ChoiceField(RunStatus.choices)
    start_time = serializers.DateTimeField(help_text="When it started, else when it was created.")
    agent = serializers.CharField(help_text="The agent type or profile name.")
    agent_version = serializers.CharField(help_text='"" when unknown.')
    error_summary = serializers.CharField(help_text='"" when there is none.')
    end_time = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Only once the run ended."
    )
    exit_code = serializers.IntegerField(
        required=False, help_text="Only once the run ended; -1 when it never ran."
    )


class RunDetailSerializer(RunSerializer):
    output = serializers.CharField(
        help_text="stdout and stderr merged in order, capped with a truncation marker."
    )


class RunListSerializer(serializers.Serializer):
    runs = RunSerializer(many=True, help_text="Newest first.")


class RunStoppedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["stopped"])


class RunningTaskSerializer(serializers.Serializer):
    project_id = serializers.CharField()
    task_id = serializers.CharField()
    run_id = serializers.CharField()
    agent = serializers.CharField()
    started = serializers.DateTimeField()


class ServerStatusSerializer(serializers.Serializer):
    active_runs_count = serializers.IntegerField()
    uptime_seconds = serializers.IntegerField()
    configured_agents = serializers.ListField(child=serializers.CharField())
    version = serializers.CharField()
    running_tasks = RunningTaskSerializer(many=True)


RUN_LIST_PARAMETERS = [
    OpenApiParameter(
        "kind",
        OpenApiTypes.STR,
        enum=[*Run.Kind.values, "all"],
        default=Run.Kind.AGENT,
        description="Which runs: agent runs by default, `all` for every kind.",
    ),
    OpenApiParameter("status", OpenApiTypes.STR, enum=RunStatus.values),
    id_parameter("project_id", "Only this project's runs."),
    id_parameter("task_id", "Only runs of tasks with this id."),
    int_parameter("limit", "Page size (default 100, at most 1000: larger is capped).", minimum=1),
    int_parameter("offset", "Runs to skip.", minimum=0),
]
PAGE_HEADERS = [
    OpenApiParameter(header, OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200])
    for header in ("X-Total-Count", "X-Limit", "X-Offset")
]
