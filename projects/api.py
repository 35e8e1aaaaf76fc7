"""The project routes under `/api/projects`: list, create, get, delete, stats, home folders.

A project's tasks and runs have their routes in their own apps (`tasks.project_api`,
`runs.project_api`); the pieces every project route shares are in `conductor_site.http`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.http import checked_ids, refuse_browser
from conductor_site.ids import identifier_field
from conductor_site.openapi import bool_parameter, errors, path_parameters
from conductor_site.params import query_bool
from projects import creation, openapi, selectors, services, storage
from projects.models import Project
from runs.services import Busy


def get_project(project_id: str) -> Project:
    """Ids are checked (400) before anything is looked up (404)."""
    checked_ids(project_id=project_id)
    project = Project.objects.filter(id=project_id).first()
    if project is None:
        raise ApiError(404, f"project {project_id!r} not found")
    return project


PROJECT = path_parameters("project_id")


class ProjectsApi(APIView):
    @extend_schema_serializer(component_name="ProjectCreate")
    class InputSerializer(serializers.Serializer):
        project_id = identifier_field()
        project_root = serializers.CharField()
        name = serializers.CharField(required=False, default="", max_length=200)
        default_branch = serializers.CharField(required=False, default="", max_length=255)
        setup_script = serializers.CharField(required=False, default="", trim_whitespace=False)
        cleanup_script = serializers.CharField(required=False, default="", trim_whitespace=False)
        dev_server_script = serializers.CharField(required=False, default="")
        copy_files = serializers.ListField(
            child=serializers.CharField(), required=False, default=list
        )
        env = serializers.DictField(child=serializers.CharField(), required=False, default=dict)

    @extend_schema(
        operation_id="projects_list", tags=["projects"], responses=openapi.ProjectListSerializer
    )
    def get(self, request: Request) -> Response:
        return Response({"projects": selectors.project_summaries()})

    @extend_schema(
        operation_id="project_create",
        tags=["projects"],
        request=InputSerializer,
        responses={201: openapi.ProjectSummarySerializer, **errors(400, 409)},
    )
    def post(self, request: Request) -> Response:
        """`project_root`: absolute (no `~` expansion), an existing directory outside the
        data dir; `default_branch`: a valid branch name (`creation.project_create`)."""
        if not isinstance(request.data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            project = creation.project_create(**data.validated_data)
        except storage.PathRefused as exc:
            raise ApiError(409, f"the project's folder cannot be made: {exc}") from exc
        except OSError as exc:
            raise ApiError(500, f"could not create the project's folder: {exc}") from exc
        return Response(selectors.project_summary(project), status=201)


@contextmanager
def deleting() -> Iterator[None]:
    """Something still running, or a data folder reached through a symlink, is a 409; a
    folder that cannot be removed, a 500."""
    try:
        yield
    except Busy as exc:
        raise ApiError(409, str(exc), **exc.details) from exc
    except storage.PathRefused as exc:
        raise ApiError(409, f"the data folder was not removed: {exc}") from exc
    except OSError as exc:
        raise ApiError(500, f"could not remove the data folder: {exc}") from exc


class HomeDirsApi(APIView):
    @extend_schema(
        operation_id="project_home_dirs", tags=["projects"], responses=openapi.HomeDirsSerializer
    )
    def get(self, request: Request) -> Response:
        return Response({"dirs": selectors.home_dirs()})


class ProjectApi(APIView):
    @extend_schema(
        operation_id="project_get",
        tags=["projects"],
        parameters=PROJECT,
        responses={200: openapi.ProjectDetailSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        return Response(selectors.project_detail(get_project(project_id)))

    @extend_schema(
        operation_id="project_delete",
        tags=["projects"],
        parameters=[*PROJECT, bool_parameter("force", "Stop what still runs first.")],
        responses={200: openapi.ProjectDeletedSerializer, **errors(400, 403, 404, 409)},
    )
    def delete(self, request: Request, project_id: str) -> Response:
        """Its tasks, runs, logs, buses and data folder; `?force=true` stops what runs first.
        The repository, worktrees and branches stay."""
        checked_ids(project_id=project_id)
        refuse_browser(request, "deleting a project")
        project = get_project(project_id)
        with deleting():
            deleted_tasks, freed = services.project_delete(
                project, force=query_bool(request, "force")
            )
        return Response(
            {"project_id": project_id, "deleted_tasks": deleted_tasks, "freed_bytes": freed}
        )


class ProjectStatsApi(APIView):
    @extend_schema(
        operation_id="project_stats",
        tags=["projects"],
        parameters=PROJECT,
        responses={200: openapi.ProjectStatsSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        return Response(selectors.project_stats(get_project(project_id)))
