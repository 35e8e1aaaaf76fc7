"""Archiving attempt worktrees: archive, never delete (shared/DESIGN.md §6, docs/worktrees.md).

Removing a worktree commits anything uncommitted on its branch as WIP first, removes the
folder with `git worktree remove`, and keeps the branch and its history, so a follow-up makes
it again from the branch (`runs.workspace.workspace_restore`). Nothing is removed that is not,
symlinks resolved, inside the worktree root and a linked worktree of the project's
repository: a row naming any other path is refused, and logged. So is a worktree that holds a
repository of its own, whose history and files would go with the folder. `git worktree prune`
is never run: it would also forget the user's own worktrees whose folders are away for a while.

An attempt's worktree is archived on request (`POST /api/v1/attempts/{id}/archive`), after its
merge and once idle (`runs.tasks`, on the owning worker's pool); a task's when the task is
deleted; an orphan (a worktree under the root no attempt has) when its worker starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from django.db.models import DateTimeField, Max
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from conductor_site.errors import DomainError
from projects import git, storage
from projects.models import Project
from runs import services
from runs.dev_server import dev_servers_stop
from runs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Attempt
from runs.selectors import folder_bytes
from runs.workspace import WrongBranch, branch_check, inside_root, worktree_registered

log = logging.getLogger(__name__)


class WorktreeRefused(DomainError):
    """The worktree was not archived and is kept (409); `details.reason` says why: `busy`,
    `running`, `no_worktree`, `outside_root`, `not_a_worktree`, `in_progress`, `detached`
    (not on the attempt's branch), `embedded_repository`, `git`."""

    status_code = 409


@dataclass(frozen=True)
class Archived:
    reason: str
    wip_commit: str  # the commit that kept uncommitted work; "" when there was none
    freed_bytes: int
    removed: bool  # False: it was archived already


def attempt_worktree_archive(attempt_id: str, *, reason: str = "requested") -> Archived:
    """Archive the attempt's worktree: anything uncommitted committed as WIP on its branch,
    then the folder removed with git; the branch and its history stay. Holds the attempt's
    operation slot; stops its dev servers, and is refused while anything else runs in it.
    Archiving twice is harmless."""
    with _archiving(attempt_id) as attempt:
        if attempt.worktree_archived_at is not None:
            return Archived(attempt.worktree_archived_reason, "", 0, removed=False)
        repo, path = _archivable(attempt)
        freed = folder_bytes(Path(path))
        wip = _archive(repo, path, attempt.branch, reason)
        services.attempt_worktree_archived(attempt, reason)
        return Archived(reason, wip, freed, removed=True)


@contextmanager
def _archiving(attempt_id: str) -> Iterator[Attempt]:
    token = services.attempt_operation_begin(attempt_id, "archive")
    if token is None:
        _refuse_busy(attempt_id)
    try:
        attempt = Attempt.objects.select_related("task__project").get(id=attempt_id)
        dev_servers_stop(attempt)  # a server must not keep serving a folder that goes away
        if active := list(attempt.runs.filter(status__in=ACTIVE_STATUSES)[:1]):
            raise WorktreeRefused(
                f"run {active[0].id} of attempt {attempt_id} is {active[0].status}: stop it "
                "or wait for it to end, then archive; nothing was changed",
                reason="running",
            )
        yield attempt
    except git.GitError as exc:
        raise WorktreeRefused(
            f"git failed, the worktree was kept: {exc}", reason="git", git=str(exc)
        ) from exc
    finally:
        services.attempt_operation_end(attempt_id, "archive", token)


def _refuse_busy(attempt_id: str) -> NoReturn:
    attempt = Attempt.objects.filter(id=attempt_id).first()
    if attempt is None:
        raise services.AttemptNotFound(f"attempt {attempt_id!r} not found")
    why = (
        f"a {attempt.operation} is running on it"
        if attempt.operation
        else f"it is {attempt.status}: wait for its run to end, or stop it"
    )
    raise WorktreeRefused(f"attempt {attempt_id} is busy ({why}); archive it then", reason="busy")


def _archivable(attempt: Attempt) -> tuple[str, str]:
    """The repository and the worktree, once the worktree is one Conductor may remove."""
    repo, path = attempt.task.project.project_root, attempt.worktree_path
    if not path or not repo:
        raise WorktreeRefused(f"attempt {attempt.id} has no worktree", reason="no_worktree")
    _confined(repo, path)
    return repo, path


def _confined(repo: str, path: str) -> None:
    """Refuse, and log, unless `path` is inside the worktree root (no symlink on the way)
    and, when it exists, a linked worktree of `repo` whose admin dir points back at it: a row
    that names the user's checkout, `~` or another repository must never lose a file."""
    if not inside_root(path):
        why, reason = "it is not inside the worktree root", "outside_root"
    elif os.path.lexists(path) and not _is_worktree_of(repo, path):
        why, reason = f"it is not a git worktree of {repo}", "not_a_worktree"
    else:
        return
    log.warning("refused to remove the worktree %s: %s; nothing was removed", path, why)
    raise WorktreeRefused(
        f"{path} was not removed: {why}; nothing was changed", reason=reason, path=path
    )


def _is_worktree_of(repo: str, path: str) -> bool:
    try:
        git.worktree_check(repo, path)
    except git.GitError:
        return False
    return True


def _archive(repo: str, path: str, branch: str, reason: str) -> str:
    """Commit what is uncommitted on `branch` as WIP, then remove the worktree with git (a
    folder gone already: its registration is forgotten); returns the WIP commit, or ""."""
    wip = ""
    if os.path.isdir(path):
        if operation := git.operation_in_progress(path):
            raise WorktreeRefused(
                f"a {operation} is stopped in {path}: continue or abort it, then archive",
                reason="in_progress",
            )
        _on_branch(path, branch)
        _no_embedded_repository(path)
        if git.is_dirty(path):
            message = f"WIP: uncommitted work kept when its worktree was archived ({reason})\n"
            wip = git.commit_all(path, message, repo=repo)
    if os.path.isdir(path) or worktree_registered(repo, path):
        git.worktree_remove(repo, path)
    log.info("removed the worktree %s (%s); its branch %s stays", path, reason, branch)
    with suppress(OSError):
        Path(path).parent.rmdir()  # the project's folder of worktrees, once empty
    return wip


def _on_branch(path: str, branch: str) -> None:
    """A WIP commit on another branch would grow that one, on a detached HEAD no branch."""
    try:
        branch_check(path, branch)
    except WrongBranch as exc:
        details = {**exc.details, "reason": "detached"}
        raise WorktreeRefused(f"{path} was kept: {exc.message}", **details) from exc


def _no_embedded_repository(path: str) -> None:
    """Refuse a worktree that holds a repository of its own (an agent's clone or `git init`):
    `add --all` would keep only a link to its commit, and the removal would take its history
    and its files. One in a folder the worktree ignores (a dependency's checkout under
    `.venv/src`, say) goes as the rest of what it ignores goes: it is no work of the branch,
    and keeping every such worktree would fill the disk with them."""
    found = _embedded_repositories(Path(path))
    if found := sorted(set(found) - git.ignored(path, found)):
        raise WorktreeRefused(
            f"{path} holds a git repository of its own at {', '.join(found[:10])}: its commits "
            "and files would go with the worktree (the WIP commit would keep only a link to "
            "it); move it out of the worktree or remove it, then archive; nothing was changed",
            reason="embedded_repository",
            paths=found[:100],
        )


def _embedded_repositories(folder: Path) -> list[str]:
    """The folders below `folder` (relative to it) with a `.git` of their own, a folder or
    a file (a clone, a `git init`, a submodule's checkout); `folder`'s own `.git` aside,
    symlinks not followed, nothing looked for inside a repository found."""
    found = []
    for parent, dirs, files in os.walk(folder):
        here = Path(parent)
        if here != folder and (".git" in dirs or ".git" in files):
            found.append(str(here.relative_to(folder)))
            dirs.clear()
        else:
            dirs[:] = [name for name in dirs if name != ".git"]
    return sorted(found)


def worktree_retire(repo: str, path: str) -> None:
    """Archive the worktree of a deleted task (its attempt is gone with it): the branch stays,
    anything uncommitted committed on it first. Refused, the worktree stays too."""
    try:
        _confined(repo, path)
        if os.path.isdir(path):
            _archive(repo, path, git.current_branch(path), "deleted")
    except (WorktreeRefused, git.GitError) as exc:
        log.warning("kept the worktree %s: %s", path, exc)


# Idle expiry and orphans.


def worktrees_idle(worker: str, days: float) -> list[str]:
    """The attempts of `worker` whose worktree is still there and in which nothing ran for
    `days`: nothing active in them, no operation on them."""
    cutoff = timezone.now() - timedelta(days=days)
    last = Greatest(
        Coalesce(Max("runs__created_at"), "created_at"),
        Coalesce(Max("runs__ended_at"), "created_at"),
        output_field=DateTimeField(),
    )
    attempts = (
        Attempt.objects.filter(worker=worker, worktree_archived_at=None, operation="")
        .filter(status__in=TERMINAL_STATUSES)
        .exclude(worktree_path="")
        .exclude(runs__status__in=ACTIVE_STATUSES)
        .annotate(last_activity=last)
        .filter(last_activity__lt=cutoff)
    )
    return list(attempts.values_list("id", flat=True))


def worktree_orphans_clean() -> int:
    """On a worker's start: folders under the worktree root that are linked worktrees no
    attempt has (their attempt deleted while the worker was down, a crash between making and
    recording one) are archived as orphans; registrations of the projects' repositories
    whose folders under the root are gone are forgotten. Anything else is left, and logged.
    Returns how many orphans were removed."""
    root = storage.worktree_root()
    removed = sum(_orphan_clean(folder) for folder in _worktree_folders(root))
    for project in Project.objects.exclude(project_root=""):
        _registrations_forget(project.project_root)
    return removed


def _worktree_folders(root: Path) -> list[Path]:
    """`<root>/<project>/<worktree>`: where Conductor makes worktrees."""
    return [folder for parent in _subfolders(root) for folder in _subfolders(parent)]


def _subfolders(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        if entry.is_symlink():
            log.warning("worktree root: left %s alone: it is a symlink", entry)
    return [entry for entry in entries if entry.is_dir() and not entry.is_symlink()]


def _orphan_clean(folder: Path) -> int:
    if _owned(folder):
        return 0
    repo = _repository_of(folder)
    if not repo:
        log.warning("worktree root: left %s alone: it is not a git worktree", folder)
        return 0
    try:
        _archive(repo, str(folder), git.current_branch(folder), "orphan")
    except (WorktreeRefused, git.GitError) as exc:
        log.warning("worktree root: kept the orphan worktree %s: %s", folder, exc)
        return 0
    return 1


def _owned(folder: Path) -> bool:
    """An attempt has it, or is making it now (`<short id>-<slug>`, not recorded yet)."""
    paths = {str(folder), str(folder.resolve())}
    if Attempt.objects.filter(worktree_path__in=paths).exists():
        return True
    short = folder.name.split("-", 1)[0]
    return Attempt.objects.filter(id__endswith=f"-{short}", worktree_path="").exists()


def _repository_of(folder: Path) -> str:
    """The main repository `folder` is a linked worktree of; "" when it is not one."""
    try:
        common = git.common_dir(folder)
    except git.GitError:
        return ""
    repo = common.parent if common.name == ".git" else common
    return str(repo) if _is_worktree_of(str(repo), str(folder)) else ""


def _registrations_forget(repo: str) -> None:
    """The repository's worktrees under the root whose folders are gone: forgotten, never
    the user's own elsewhere (a folder on a disk not mounted now)."""
    if not os.path.isdir(repo):
        return
    try:
        stale = [t.path for t in git.worktrees(repo)[1:] if t.prunable and inside_root(t.path)]
        for path in stale:
            git.worktree_remove(repo, path)
            log.info("forgot the worktree %s of %s: its folder is gone", path, repo)
    except git.GitError as exc:
        log.warning("worktrees of %s not checked: %s", repo, exc)
