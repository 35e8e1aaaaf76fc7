"""The project routes under `/api/projects`: list, create, get, delete, stats, home folders;
under `/api/v1/projects` (house style, `ProjectViewSet`): a project, its branches and a
search of its file names; under `/api/v1/filesystem` (`FilesystemViewSet`): folders and the
repositories in them, for the "create project" form.

A project's tasks and runs have their routes in their own apps (`tasks.project_api`,
`runs.project_api`); the pieces every project route shares are in `conductor_site.http`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor_site.errors import ApiError
from conductor_site.http import (
    PAGE_DEFAULT_LIMIT,
    PAGE_MAX_LIMIT,
    checked_ids,
    paged,
    refuse_browser,
    validated_body,
)
from conductor_site.ids import identifier_field
from conductor_site.openapi import (
    PAGE_PARAMETERS,
    bool_parameter,
    errors,
    int_parameter,
    page_of,
    path_parameters,
)
from conductor_site.params import query_bool, query_int
from projects import creation, discovery, openapi, selectors, services, storage
from projects.discovery import DEPTH_MAX
from projects.models import Project
from runs.services import Busy


def get_project(project_id: str) -> Project:
    """Ids are checked (400) before anything is looked up (404)."""
    checked_ids(project_id=project_id)
    project = Project.objects.filter(id=project_id).first()
    if project is None:
        raise ApiError(404, f"project {project_id!r} not found")
    return project


def known_project_id(project_id: str) -> str:
    """`get_project`'s checks (400, then 404) without loading the project, for a route that
    needs only its id: on the task page, building the model cost more than the page's own
    statement (py-spy: 19% of the request against 17%)."""
    checked_ids(project_id=project_id)
    if not selectors.project_exists(project_id):
        raise ApiError(404, f"project {project_id!r} not found")
    return project_id


PROJECT = path_parameters("project_id")


class ProjectsApi(APIView):
    @extend_schema_serializer(component_name="ProjectCreate")
    class InputSerializer(serializers.Serializer):
        project_id = identifier_field()
        project_root = serializers.CharField(required=False)
        repo_url = serializers.CharField(
            required=False, max_length=creation.REPO_URL_MAX, help_text="Instead of project_root."
        )
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
        data dir; or `repo_url` (`file:///`, `https://`, `ssh://`), cloned into the data dir,
        a failed clone being a 400 with git's message and credentials never shown;
        `default_branch`: a valid branch name (`creation.project_create`)."""
        fields = validated_body(self.InputSerializer, request)
        try:
            project = creation.project_create(**fields)
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


SEARCH_QUERY_MAX = 200


def page(request: Request, items: list[Any]) -> Response:
    """`items` in the page envelope `?limit=` and `?offset=` ask for."""
    limit = query_int(request, "limit", PAGE_DEFAULT_LIMIT, low=1, high=PAGE_MAX_LIMIT)
    offset = query_int(request, "offset", 0, low=0, high=None)
    return Response(paged(items[offset : offset + limit], len(items), limit, offset))


class ProjectViewSet(viewsets.ViewSet):
    """`/api/v1/projects/<project_id>`: reads of a project and its repository. Listing and
    creating projects are the Conductor Loop routes under `/api/projects`."""

    lookup_url_kwarg = "project_id"
    lookup_value_converter = "str"

    @extend_schema(
        operation_id="project_read",
        tags=["projects"],
        parameters=PROJECT,
        responses={200: openapi.ProjectV1DetailSerializer, **errors(400, 404)},
    )
    def retrieve(self, request: Request, project_id: str) -> Response:
        """The project, with its worktrees' disk usage as their workers last measured it."""
        project = get_project(project_id)
        worktrees = selectors.worktree_usage(project)
        return Response({**selectors.project_detail(project), "worktrees": worktrees})

    @extend_schema(
        operation_id="project_branches",
        tags=["projects"],
        parameters=[*PROJECT, *PAGE_PARAMETERS],
        responses={
            200: page_of("BranchPage", openapi.BranchSerializer(many=True)),
            **errors(400, 404, 409),
        },
    )
    @action(detail=True, methods=["get"])
    def branches(self, request: Request, project_id: str) -> Response:
        """Local branches by name, then remote-tracking ones (`origin/main`); `is_current`:
        checked out in the project's own working tree. 409 without a repository."""
        return page(request, selectors.project_branches(get_project(project_id)))

    @extend_schema(
        operation_id="project_file_search",
        tags=["projects"],
        parameters=[
            *PROJECT,
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="Case-insensitive."),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: page_of("FileMatchPage", openapi.FileMatchSerializer(many=True)),
            **errors(400, 404, 409),
        },
    )
    @action(detail=True, methods=["get"])
    def search(self, request: Request, project_id: str) -> Response:
        """Files (tracked, and untracked but not ignored) whose path holds `q`: exact file
        names first, then names starting with `q`, names holding it, paths holding it. Only
        names are read, never contents."""
        project = get_project(project_id)
        query = request.query_params.get("q", "").strip()
        if not query or len(query) > SEARCH_QUERY_MAX:
            raise ApiError(400, f"q must be 1-{SEARCH_QUERY_MAX} characters")
        return page(request, selectors.project_file_search(project, query))


PATH_PARAMETER = OpenApiParameter(
    "path", OpenApiTypes.STR, description="An absolute folder inside a browse root (default: home)."
)


def requested_path(request: Request) -> str:
    return request.query_params.get("path") or str(discovery.browse_roots()[0])


class FilesystemViewSet(viewsets.ViewSet):
    """`/api/v1/filesystem/...`: folders and repositories for the "create project" form,
    never outside the user's home and `CONDUCTOR_BROWSE_ROOTS` (`projects.discovery`)."""

    @extend_schema(
        operation_id="filesystem_roots",
        tags=["filesystem"],
        responses=openapi.BrowseRootsSerializer,
    )
    @action(detail=False, methods=["get"])
    def roots(self, request: Request) -> Response:
        return Response({"roots": [str(root) for root in discovery.browse_roots()]})

    @extend_schema(
        operation_id="filesystem_browse",
        tags=["filesystem"],
        parameters=[
            PATH_PARAMETER,
            bool_parameter("hidden", "Include dot entries."),
            *PAGE_PARAMETERS,
        ],
        responses={200: openapi.FolderSerializer, **errors(400, 404)},
    )
    @action(detail=False, methods=["get"])
    def browse(self, request: Request) -> Response:
        """A folder's entries, folders first. A path outside the roots (after resolving
        symlinks and `..`) is 400, whether or not it exists."""
        hidden = query_bool(request, "hidden")
        folder, entries = discovery.folder_entries(requested_path(request), hidden=hidden)
        listed = page(request, [selectors.folder_entry(entry) for entry in entries]).data
        parent = discovery.parent_inside_roots(folder)
        return Response({"path": str(folder), "parent_path": parent, **listed})

    @extend_schema(
        operation_id="filesystem_repositories",
        tags=["filesystem"],
        parameters=[
            PATH_PARAMETER,
            int_parameter(
                "depth", f"Levels below the folder (default 3, at most {DEPTH_MAX}).", minimum=0
            ),
            int_parameter("limit", "Repositories at most (default 100, at most 500).", minimum=1),
        ],
        responses={200: openapi.RepositoriesSerializer, **errors(400, 404)},
    )
    @action(detail=False, methods=["get"])
    def repositories(self, request: Request) -> Response:
        """Git repositories at or below the folder: no symlink followed, no hidden folder,
        dependency or build folder (`node_modules`, `.venv`, ...) or found repository
        entered. `truncated` when a bound stopped the search."""
        depth = query_int(request, "depth", discovery.DEPTH_DEFAULT, low=0, high=DEPTH_MAX)
        limit = query_int(request, "limit", 100, low=1, high=500)
        folder, found = discovery.repositories_under(
            requested_path(request), depth=depth, limit=limit
        )
        repositories = [selectors.folder_entry(entry) for entry in found.repositories]
        return Response(
            {"path": str(folder), "repositories": repositories, "truncated": found.truncated}
        )
