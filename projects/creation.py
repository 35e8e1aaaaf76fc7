"""Creating projects: the one set of checks for every route that makes one.

`POST /api/projects` calls `project_create` (with a `repo_url`, `project_clone`); `POST
/api/v1/tasks` and a post to an unknown bus make theirs implicitly through `project_ensure`.
The row and its folder (and a clone) are made together or not at all. (Apart from
`projects.services`, which deletes and stands on tasks and runs: creating stands on nothing
above `projects`, so those apps can call it.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def project_create(
    *, project_id: str, project_root: str = "", repo_url: str = "", **fields: Any
) -> Project:
    """`POST /api/projects`: a new project with a home folder (`project_root`), or with a
    clone of `repo_url` (`project_clone`); one of them is required."""
    if repo_url:
        if project_root:
            raise ProjectInvalid("repo_url", "give repo_url or project_root, not both")
        return project_clone(project_id=project_id, repo_url=repo_url, **fields)
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


def project_clone(*, project_id: str, repo_url: str, **fields: Any) -> Project:
    """A project whose repository is a clone of `repo_url`, in `storage.clone_dir`: the row,
    its folder and the clone together, or none of them (a failed clone is a 400 with git's
    message). Credentials in the URL serve the clone only: the stored `repo_url` and every
    message have them redacted, and the clone's `origin` is the URL without a password."""
    url = checked_repo_url(repo_url)
    project_check(
        project_id=project_id, project_root="", default_branch=fields.get("default_branch", "")
    )
    if Project.objects.filter(id=project_id).exists():
        raise ProjectExists(f"project {project_id!r} already exists")
    folder = _clone_folder_claim(project_id)
    try:
        git.clone(url, folder)
        git.remote_set_url(folder, "origin", git.without_password(url))
        stored = {**fields, "project_root": str(folder), "repo_url": git.redacted(url)}
        return _project_make(project_id, stored)
    except git.GitError as exc:
        storage.folder_remove(folder)
        raise ProjectInvalid("repo_url", f"the clone failed: {git.redacted(str(exc))}") from exc
    except IntegrityError as exc:
        storage.folder_remove(folder)
        raise ProjectExists(f"project {project_id!r} already exists") from exc
    except BaseException:
        storage.folder_remove(folder)
        raise


def _clone_folder_claim(project_id: str) -> Path:
    """The empty folder the clone goes into, made here (its making is the claim: a second
    request for the same id finds it there, 409)."""
    folder = storage.clone_dir(project_id)
    storage.folder_make(folder.parent)
    try:
        os.mkdir(folder, 0o755)
    except FileExistsError as exc:
        raise ProjectExists(
            f"{folder} already exists (a clone for an earlier project {project_id!r}?): "
            "remove it or choose another project_id"
        ) from exc
    return folder


REPO_URL_MAX = 2048


def checked_repo_url(value: str) -> str:
    """A URL git may clone: `file:///<path>`, `https://<host>/...` or `ssh://<host>/...`.
    Nothing git could take for an option (a leading `-`, a host or user starting with one),
    no `ext::` or other transport, no whitespace or control character."""
    shown = git.redacted(value)
    if len(value) > REPO_URL_MAX:
        raise ProjectInvalid("repo_url", f"must be at most {REPO_URL_MAX} characters")
    if value.startswith("-") or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise ProjectInvalid("repo_url", f"{shown!r} is not a URL git may clone")
    scheme = value.partition("://")[0]
    if scheme not in git.CLONE_PROTOCOLS:
        schemes = ", ".join(f"{name}://" for name in git.CLONE_PROTOCOLS)
        raise ProjectInvalid("repo_url", f"{shown!r}: only {schemes} URLs are cloned")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise ProjectInvalid("repo_url", f"{shown!r} is not a valid URL") from exc
    if scheme == "file" and (parts.netloc or not parts.path.startswith("/")):
        raise ProjectInvalid("repo_url", "a file:// URL is file:///<absolute path>")
    host, user = parts.hostname or "", parts.username or ""
    if scheme != "file" and (not host or host.startswith("-") or user.startswith("-")):
        raise ProjectInvalid("repo_url", f"{shown!r} names no valid host")
    return value


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
    return checked_project_root(project_root, project_id) if project_root else ""


def checked_project_root(value: str, project_id: str = "") -> str:
    """Absolute (no `~` expansion), existing, a directory, outside the data dir (but for the
    project's own clone, `storage.clone_dir`); symlinks are resolved before the checks. A
    path the system cannot use (too long) is refused too."""
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
    own_clone = bool(project_id) and resolved == storage.clone_dir(project_id).resolve()
    if (resolved == data or data in resolved.parents) and not own_clone:
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
