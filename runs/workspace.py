"""The one home of attempt workspaces: the worktree an attempt works in (a new branch from the
project's base, with the files git does not carry), checking it is still Conductor's and on
the attempt's branch (`branch_check`, before anything Conductor writes there), committing
what the agent left, measuring it, and making it again from its branch for a follow-up once
it was archived (`runs.archive`). Built on `projects.git`; diff, merge, rebase and push of a
worktree belong here too.

Every operation runs on the worker that made the worktree (`Attempt.worker`, shared/DESIGN.md
§7): the pipeline on that worker calls them, `runs.tasks.queue_for` and `runs.owner.on_owner`
route the rest.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from django.conf import settings
from django.utils.text import slugify

from conductor_site.db import connection_release
from conductor_site.errors import DomainError
from projects import git, storage
from projects.models import Project
from runs import services, signals
from runs.models import Attempt, Run, RunStatus
from runs.selectors import folder_bytes

log = logging.getLogger(__name__)


class WorkspaceError(Exception):
    pass


class WrongBranch(DomainError):
    """The worktree does not have the attempt's branch checked out (409 `wrong_branch`)."""

    status_code = 409


def branch_check(path: str, branch: str, *, checked_out: str = "") -> None:
    """Refuse (WrongBranch) unless the worktree at `path` works on `branch`. An agent may
    check out another branch in its worktree (`git checkout develop`, `git checkout -b fix`):
    a commit, a retry's reset or a rebase there would then grow or rewrite that branch, the
    user's maybe, as if it were the attempt's. A rebase of `branch` stopped on a conflict
    (HEAD detached) counts as on it, so that it can be continued or aborted. `checked_out`:
    the branch the caller read already (one git call less); asked when ""."""
    found = checked_out or git.worktree_branch(path)
    if branch and found == branch:
        return
    has = f"`{found}` checked out" if found else "a detached HEAD"
    raise WrongBranch(
        f"the worktree has {has}, not the attempt's branch `{branch or '(none)'}`: check the "
        f"branch out again there (git -C {path} switch {branch or '<branch>'}) and retry; "
        "nothing was changed",
        reason="wrong_branch",
        path=path,
        branch=found,
        expected=branch,
    )


def attempt_cwd(attempt: Attempt) -> str:
    task = attempt.task
    return attempt.worktree_path or str(storage.task_dir(task.project_id, task.task_id))


def workspace_prepare(attempt: Attempt) -> str:
    """A new worktree on a new branch; the task folder for a project without a repository."""
    task = attempt.task
    project = task.project
    repo = project.project_root
    if repo and not os.path.isdir(repo):
        raise WorkspaceError(
            f"project_root {repo} does not exist any more (restore it, or recreate the project)"
        )
    if not project.has_repository:
        folder = storage.task_dir(project.id, task.task_id)
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)
    if project.default_branch and not git.branch_name_valid(project.default_branch):
        raise WorkspaceError(
            f"default_branch {project.default_branch!r} is not a valid branch name: set the "
            "project's default_branch to one of its branches; nothing was created"
        )
    base = (
        attempt.base_branch
        or project.default_branch
        or git.current_branch(repo)
        or git.head_commit(repo)
    )
    slug = slugify(task.title or task.task_id)[:40].strip("-") or "task"
    name = f"{attempt.short_id}-{slug}"
    branch = f"{settings.CONDUCTOR['BRANCH_PREFIX']}/{name}"
    path = storage.worktree_root() / project.id / name
    path.parent.mkdir(parents=True, exist_ok=True)
    connection_release()  # the repository's worktree lock may keep it waiting behind others
    try:
        start = git.worktree_add(repo, path, branch, base)
        try:
            _copy_files(project, Path(repo), path)
        except OSError:
            git.worktree_discard(repo, path, branch)
            raise
    except (git.GitError, OSError) as exc:
        note = storage.low_disk_note(path.parent)
        raise WorkspaceError(f"{exc}; {note}" if note else str(exc)) from exc
    services.attempt_worktree_record(attempt, str(path), branch, base, start)
    return str(path)


def workspace_ready(attempt: Attempt, cwd: str) -> None:
    """Before each agent run: the apps above fill the working directory (a task's images)."""
    signals.workspace_ready.send(sender=Attempt, attempt=attempt, path=Path(cwd))


def workspace_restore(attempt: Attempt) -> None:
    """Before a follow-up: a worktree that was archived (or whose folder is gone) is made
    again where it was, from the attempt's branch, with the files git does not carry."""
    path = attempt.worktree_path
    gone = attempt.worktree_archived_at is not None or not os.path.isdir(path)
    if not path or not attempt.branch or not gone:
        return
    project = attempt.task.project
    repo = project.project_root
    if not inside_root(path):
        raise WorkspaceError(f"{path} is outside the worktree root: start a new attempt")
    if not os.path.lexists(path):
        _recreate(project, attempt.branch, path)
    else:  # made again already (by hand): only if it is the worktree Conductor would make
        git.worktree_check(repo, path)
    services.attempt_worktree_restored(attempt)
    log.info("worktree %s made again from %s for a follow-up", path, attempt.branch)


def _recreate(project: Project, branch: str, path: str) -> None:
    repo = project.project_root
    if not git.branch_exists(repo, branch):
        raise WorkspaceError(
            f"the attempt's branch {branch} does not exist any more: start a new attempt"
        )
    if worktree_registered(repo, path):
        git.worktree_remove(repo, path)  # registered still, its folder gone: forgotten first
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    git.worktree_add_existing(repo, path, branch)
    _copy_files(project, Path(repo), Path(path))


def worktree_measure(attempt: Attempt) -> None:
    """Store what the worktree holds on disk (after each run, on its owner), so that any
    server reports it without walking a folder of another host."""
    path = attempt.worktree_path
    if path and attempt.worktree_archived_at is None and inside_root(path):
        services.attempt_worktree_measured(attempt, folder_bytes(Path(path)))


def inside_root(path: str) -> bool:
    """Below the worktree root, the same folder whether symlinks are followed or not."""
    root = storage.worktree_root()
    folder = Path(os.path.abspath(path))
    for base in (Path(os.path.abspath(root)), root.resolve()):
        if folder.is_relative_to(base) and folder != base:
            return folder.resolve() == root.resolve() / folder.relative_to(base)
    return False


def worktree_registered(repo: str, path: str) -> bool:
    real = os.path.realpath(path)
    return any(os.path.realpath(tree.path) == real for tree in git.worktrees(repo)[1:])


def _copy_files(project: Project, repo: Path, worktree: Path) -> None:
    """The project's globs and `.worktreeinclude`'s: files git does not carry (e.g. `.env`).
    A committed `.worktreeinclude` is the repository's word, not the user's: nothing is read
    from outside the repository nor written outside the worktree (`..`, symlinks)."""
    repo, worktree = repo.resolve(), worktree.resolve()
    for pattern in _copy_patterns(project, repo):
        if ".." in Path(pattern).parts:
            log.warning("copy_files: skipped %r: it leaves the repository", pattern)
            continue
        try:
            sources = list(repo.glob(pattern.lstrip("/")))
        except ValueError as exc:  # an empty or malformed pattern
            log.warning("copy_files: skipped %r: %s", pattern, exc)
            continue
        for source in sources:
            for path in _files_under(source):
                _copy_one(path.relative_to(repo), repo, worktree)


def _copy_patterns(project: Project, repo: Path) -> list[str]:
    patterns = [str(p) for p in project.copy_files]
    include = repo / ".worktreeinclude"
    if include.is_file() and not include.is_symlink():
        patterns += [
            line.strip()
            for line in include.read_text(errors="replace").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    return patterns


def _files_under(source: Path) -> list[Path]:
    """The file (or link) itself, or every file and link under a folder (links to folders
    are not followed)."""
    if source.is_symlink() or not source.is_dir():
        return [source]
    found = []
    for folder, dirs, files in os.walk(source):
        links = [name for name in dirs if os.path.islink(os.path.join(folder, name))]
        found += [Path(folder, name) for name in (*files, *links)]
    return found


def _copy_one(relative: Path, repo: Path, worktree: Path) -> None:
    """Copy the file `repo/relative` names to `worktree/relative`, unless it resolves outside
    the repository (or into `.git`) or a symlink in the worktree leads the target out; what
    the worktree has in its place already (a file, a link) is kept."""
    source, target = repo / relative, worktree / relative
    if not relative.parts or relative.parts[0] == ".git":
        return
    resolved = source.resolve()
    if not resolved.is_relative_to(repo) or resolved.relative_to(repo).parts[:1] == (".git",):
        log.warning("copy_files: skipped %s: it points outside the repository", source)
        return
    if not target.parent.resolve().is_relative_to(worktree):
        log.warning("copy_files: skipped %s: a symlink leads it out of the worktree", target)
        return
    if os.path.lexists(target) or not resolved.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(resolved, target)


def common_dir(attempt: Attempt) -> Path | None:
    """The project repository's git dir, which the worktree checks of one run compare with:
    looked up once, as the repository was when the agent started (None: no worktree, or git
    could not say; each check then asks, and reports what is wrong)."""
    if not attempt.worktree_path:
        return None
    try:
        return git.common_dir(attempt.task.project.project_root)
    except git.GitError:
        return None


def foreign_worktree(attempt: Attempt, common: Path | None) -> str:
    """What is wrong when the agent left its worktree no longer Conductor's, else ""."""
    if not attempt.worktree_path:
        return ""
    try:
        git.worktree_check(attempt.task.project.project_root, attempt.worktree_path, common=common)
    except git.GitError as exc:
        return str(exc)
    return ""


def commit_if_dirty(attempt: Attempt, run: Run, status: str, common: Path | None) -> None:
    """Commit what the agent left (its final summary the message), the worktree checked
    first (Conductor's, on the attempt's branch: else nothing is committed) and again right
    before the commit; records the run's HEAD after."""
    path = attempt.worktree_path
    repo = attempt.task.project.project_root
    git.worktree_check(repo, path, common=common)
    dirty, head, checked_out = git.dirty_head_and_branch(path)
    branch_check(path, attempt.branch, checked_out=checked_out)
    if not dirty:
        Run.objects.filter(id=run.id).update(head_after=head)
        return
    final = final_summary(attempt, run)
    task = attempt.task
    subject = (
        final.splitlines()[0][:72]
        if final
        else (f"{task.title or task.task_id}: changes by {attempt.agent}")
    )
    if status != RunStatus.SUCCESS:
        subject = f"WIP ({status}): {subject}"
    body = final if final and final.splitlines()[0] != final else ""
    message = f"{subject}\n\n{body}\n\nConductor-Run: {run.id}\n".replace("\n\n\n\n", "\n\n")
    head = git.commit_all(path, message, repo=repo, common=common)
    Run.objects.filter(id=run.id).update(head_after=head)


def final_summary(attempt: Attempt, run: Run) -> str:
    task = attempt.task
    folder = storage.run_dir(task.project_id, task.task_id, run.id)
    return (storage.file_text(folder / "output.md") or "").strip()
