"""Creating projects: the one set of checks for every route that makes one.

`POST /api/projects` calls `project_create`; `POST /api/v1/tasks` and a post to an unknown
bus make theirs implicitly through `project_ensure`. The row and its folder are made together
or not at all. (Apart from `projects.services`, which deletes and stands on tasks and runs:
creating stands on nothing above `projects`, so those apps can call it.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction

from conductor_site.errors import DomainError
from conductor_site.ids import RESERVED_IDS, is_identifier
from projects import git, storage
from projects.models import Project

PROJECT_ROOT_MAX = Project._meta.get_field("project_root").max_length or 4096


class ProjectInvalid(DomainError):
    """A field of a new project is wrong (HTTP 400), in the shape of a serializer's error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", fields={field: [message]})
        self.field, self.reason = field, message


class ProjectExists(DomainError):
    status_code = 409


def project_create(*, project_id: str, project_root: str, **fields: Any) -> Project:
    """`POST /api/projects`: a new project with a home folder (`project_root`, required)."""
    if not project_root:
        raise ProjectInvalid("project_root", "This field is required.")
    root = project_check(
        project_id=project_id,
        project_root=project_root,
        default_branch=fields.get("default_branch", ""),
    )
    if Project.objects.filter(id=project_id).exists():
        raise ProjectExists(f"project {project_id!r} already exists")
    try:
        return _project_make(project_id, {**fields, "project_root": root})
    except IntegrityError as exc:
        raise ProjectExists(f"project {project_id!r} already exists") from exc


def project_ensure(*, project_id: str, project_root: str = "") -> Project:
    """The project a task or a bus post names, made without a repository (or with
    `project_root` as its home folder) when it does not exist yet."""
    root = project_check(project_id=project_id, project_root=project_root)
    project = Project.objects.filter(id=project_id).first()
    if project is not None:
        return project
    try:
        return _project_make(project_id, {"project_root": root})
    except IntegrityError:  # made by a concurrent request meanwhile
        return Project.objects.get(id=project_id)


def project_check(*, project_id: str, project_root: str, default_branch: str = "") -> str:
    """The checks a project passes wherever it is made (or edited, in the admin); returns
    `project_root` resolved ("": none). ProjectInvalid names the first wrong field."""
    if not is_identifier(project_id):
        raise ProjectInvalid("project_id", "must be 1-128 characters of A-Z, a-z, 0-9, '-' or '_'")
    if project_id in RESERVED_IDS:
        raise ProjectInvalid("project_id", f"{project_id!r} is reserved")
    if default_branch and not git.branch_name_valid(default_branch):
        raise ProjectInvalid("default_branch", f"{default_branch!r} is not a valid branch name")
    return checked_project_root(project_root) if project_root else ""


def checked_project_root(value: str) -> str:
    """Absolute (no `~` expansion), existing, a directory, outside the data dir; symlinks
    are resolved before the checks. A path the system cannot use (too long) is refused too."""
    path = Path(value)
    if not path.is_absolute():
        raise ProjectInvalid("project_root", "must be an absolute path")
    if len(value) > PROJECT_ROOT_MAX:
        raise ProjectInvalid("project_root", f"must be at most {PROJECT_ROOT_MAX} characters")
    try:
        resolved = path.resolve()
        is_dir = resolved.is_dir()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ProjectInvalid("project_root", f"{value} cannot be used: {reason}") from exc
    if not is_dir:
        raise ProjectInvalid("project_root", f"{value} is not an existing directory")
    data = storage.data_dir().resolve()
    if resolved == data or data in resolved.parents:
        raise ProjectInvalid("project_root", f"must be outside Conductor's data dir ({data})")
    if len(str(resolved)) > PROJECT_ROOT_MAX:
        raise ProjectInvalid("project_root", f"must be at most {PROJECT_ROOT_MAX} characters")
    return str(resolved)


def _project_make(project_id: str, fields: dict[str, Any]) -> Project:
    """The row and its folder (with `PROJECT-ROOT.txt` when it has a home folder), or
    neither: a folder that cannot be made rolls the row back (OSError)."""
    folder = storage.project_dir(project_id)
    existed = folder.exists()
    with transaction.atomic():
        project = Project.objects.create(id=project_id, **fields)
        try:
            storage.folder_make(folder)
            if project.project_root:
                storage.file_write(folder / "PROJECT-ROOT.txt", project.project_root + "\n")
        except OSError:
            if not existed:
                storage.folder_remove(folder)
            raise
    return project
