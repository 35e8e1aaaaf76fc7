"""The OpenAPI shapes of the project routes under `/api/projects` (`projects.selectors` builds
the data; these describe it). A project's tasks and runs are described in `tasks.openapi` and
`runs.openapi`."""

from __future__ import annotations

from rest_framework import serializers


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
