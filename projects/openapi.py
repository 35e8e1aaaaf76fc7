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
    repo_url = serializers.CharField(
        help_text='Where the repository was cloned from, credentials redacted; "": not a clone.'
    )
    has_repository = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class WorktreeUsageSerializer(serializers.Serializer):
    """`projects.selectors.worktree_usage`."""

    present = serializers.IntegerField(help_text="Worktrees on disk.")
    archived = serializers.IntegerField(help_text="Worktrees removed, their branches kept.")
    disk_bytes = serializers.IntegerField(help_text="What the present ones held when measured.")
    measured_at = serializers.DateTimeField(allow_null=True, help_text="The latest measure.")


class ProjectV1DetailSerializer(ProjectDetailSerializer):
    worktrees = WorktreeUsageSerializer()


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


class BranchSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="`main`, or `origin/main` for a remote branch.")
    is_remote = serializers.BooleanField()
    is_current = serializers.BooleanField(help_text="Checked out in the project's own tree.")
    last_commit_date = serializers.DateTimeField()


class FileMatchSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Relative to the repository's top level.")
    match = serializers.ChoiceField(
        choices=["name", "name_prefix", "name_contains", "path_contains"],
        help_text="How the path matched, best first: the exact file name, its start, "
        "anywhere in the name, anywhere in the path.",
    )


class FolderEntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    path = serializers.CharField(help_text="Absolute, inside a browse root.")
    is_directory = serializers.BooleanField(
        help_text="A folder, or a symlink to one inside the browse roots."
    )
    is_symlink = serializers.BooleanField()
    is_git_repo = serializers.BooleanField(help_text="A folder holding `.git`.")
    last_modified = serializers.DateTimeField()


class FolderSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The folder's real path (symlinks resolved).")
    parent_path = serializers.CharField(
        allow_null=True, help_text="null at a browse root: nothing above may be read."
    )
    items = FolderEntrySerializer(many=True, help_text="Folders first, then by name.")
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    has_more = serializers.BooleanField()


class RepositoriesSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The searched folder's real path.")
    repositories = FolderEntrySerializer(many=True, help_text="By path.")
    truncated = serializers.BooleanField(
        help_text="The depth, the limit or the search's own bound stopped it early."
    )


class BrowseRootsSerializer(serializers.Serializer):
    roots = serializers.ListField(
        child=serializers.CharField(),
        help_text="The user's home, then the folders `CONDUCTOR_BROWSE_ROOTS` names.",
    )
