"""The attempt pipeline: worktree → setup → agent → commit → cleanup (shared/DESIGN.md §4)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
from contextlib import suppress
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.text import slugify

from conductor_site.db import connection_release
from messagebus.services import message_append
from projects import git, storage
from projects.models import Project
from runs import diffs, services
from runs.agents import AgentNotFound, UnknownAgent, agent_for
from runs.models import Attempt, LogChunk, Run, RunStatus
from runs.supervisor import Invocation, ProcessResult, execute, supervisor

log = logging.getLogger(__name__)


class WorkspaceError(Exception):
    pass


def attempt_execute(attempt_id: str) -> None:
    """Run a new attempt from its worktree to its cleanup script."""
    sup = supervisor()
    claimed = Attempt.objects.filter(id=attempt_id, status=RunStatus.CREATED).update(
        status=RunStatus.RUNNING, worker=sup.name, heartbeat_at=timezone.now()
    )
    if claimed != 1:
        return  # a duplicate delivery, or stopped before it started
    attempt = Attempt.objects.select_related("task__project").get(id=attempt_id)
    agent_run = attempt.runs.filter(kind=Run.Kind.AGENT).order_by("created_at").first()
    assert agent_run is not None
    with sup.tracking(attempt.id):
        try:
            cwd = workspace_prepare(attempt)
        except (WorkspaceError, git.GitError, OSError) as exc:
            _fail_before_agent(attempt, agent_run, RunStatus.FAILED, f"workspace: {exc}")
            return
        if _setup_ok(attempt, agent_run, cwd):
            _agent_then_wrap_up(attempt, agent_run, cwd)


def followup_execute(run_id: str) -> None:
    """Run a follow-up agent run in its attempt's existing worktree. The run is claimed
    first: a second delivery, or a run stopped meanwhile, finds nothing to claim and leaves
    the attempt alone (claiming the attempt first let a duplicate fail the real one)."""
    run = Run.objects.select_related("attempt__task__project").get(id=run_id)
    attempt = run.attempt
    cwd = attempt_cwd(attempt)
    if not services.run_claim(run, supervisor().name, cwd):
        return
    claimed = (
        Attempt.objects.filter(id=attempt.id)
        .exclude(status__in=[RunStatus.RUNNING, RunStatus.CREATED])
        .update(status=RunStatus.RUNNING, heartbeat_at=timezone.now(), error_summary="")
    )
    if claimed != 1:
        services.run_finish(run, RunStatus.FAILED, error_summary="the attempt was busy")
        return
    with supervisor().tracking(attempt.id):
        _agent_then_wrap_up(attempt, run, cwd)


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
    Attempt.objects.filter(id=attempt.id).update(
        worktree_path=str(path),
        branch=branch,
        base_branch=base,
        target_branch=base,
        base_commit=start,
    )
    attempt.refresh_from_db()
    return str(path)


def worktree_retire(repo: str, path: str) -> None:
    """Remove the worktree of a deleted task; its branch stays, and anything uncommitted is
    committed on it first, so no work is lost. If that fails, the worktree stays too."""
    if not os.path.isdir(path):
        return
    try:
        if git.is_dirty(path):
            git.commit_all(path, "WIP: uncommitted work kept when its task was deleted", repo=repo)
        git.worktree_remove(repo, path)
    except git.GitError as exc:
        log.warning("kept the worktree %s: %s", path, exc)
        return
    with suppress(OSError):
        Path(path).parent.rmdir()  # the project's folder of worktrees, once empty


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


def _setup_ok(attempt: Attempt, agent_run: Run, cwd: str) -> bool:
    script = attempt.task.project.setup_script
    if not script.strip():
        return True
    run = services.run_create(attempt, Run.Kind.SETUP, script)
    status = _script_run(attempt, run, cwd)
    if status == RunStatus.SUCCESS:
        return True
    _fail_before_agent(attempt, agent_run, status, f"setup script {status}: {run.error_summary}")
    return False


def _fail_before_agent(attempt: Attempt, agent_run: Run, status: str, reason: str) -> None:
    services.run_cancel_unstarted(agent_run, status, f"not started: {reason}")
    services.attempt_finish(attempt, status, reason)


def _agent_then_wrap_up(attempt: Attempt, run: Run, cwd: str) -> None:
    status = _agent_run(attempt, run, cwd)
    run.refresh_from_db()
    summary = run.error_summary
    if attempt.worktree_path:
        try:
            _commit_if_dirty(attempt, run, status)
        except git.GitError as exc:
            status, summary = RunStatus.FAILED, f"could not commit the agent's changes: {exc}"
    script = attempt.task.project.cleanup_script
    if script.strip():
        cleanup = services.run_create(attempt, Run.Kind.CLEANUP, script, previous_run=run)
        cleanup_status = _script_run(attempt, cleanup, cwd)
        if cleanup_status != RunStatus.SUCCESS and status == RunStatus.SUCCESS:
            cleanup.refresh_from_db()
            status = RunStatus.FAILED
            summary = f"cleanup script {cleanup_status}: {cleanup.error_summary}"
    diffs.snapshot_store(attempt, run)
    services.attempt_finish(attempt, status, summary)


def _agent_run(attempt: Attempt, run: Run, cwd: str) -> str:
    """Claim the run unless its caller did (a follow-up), then run the agent to its end."""
    env = run_env(attempt, run)
    if run.status != RunStatus.RUNNING and not services.run_claim(run, supervisor().name, cwd):
        return run.status
    try:
        agent = agent_for(attempt.agent)
        session = ""
        if run.previous_run_id and agent.supports_resume:
            session = Run.objects.get(id=run.previous_run_id).agent_session_id
        run_dir = storage.folder_make(_run_dir(attempt, run))
        command = agent.command(run.prompt, run_dir=run_dir, session_id=session)
        argv = agent.resolve(command.argv, env.get("PATH", ""))
    except (AgentNotFound, UnknownAgent, ValueError, OSError) as exc:
        services.run_finish(run, RunStatus.FAILED, exit_code=127, error_summary=str(exc))
        return RunStatus.FAILED
    version = agent.version_soon(env.get("PATH", ""))
    task = attempt.task
    message_append(
        project_id=task.project_id,
        task_id=task.task_id,
        run_id=run.id,
        type="task_start",
        body=f"{attempt.agent} started",
    )
    head = git.head_commit(cwd) if attempt.worktree_path else ""
    result = _execute(run, Invocation(argv, cwd, {**env, **command.env}, command.stdin))
    stdout_head, stdout_tail = _stdout_ends(run)
    final = agent.final_message(stdout_tail)
    _write_output(attempt, run, final)
    status, summary = outcome(result, cwd)
    if foreign := _foreign_worktree(attempt):
        status, summary = RunStatus.FAILED, "; ".join(filter(None, [foreign, summary]))
    services.run_finish(
        run,
        status,
        exit_code=result.exit_code,
        error_summary=summary,
        agent_version=version.result(),
        agent_session_id=agent.session_id(stdout_head)[:255],
        head_before=head,
        **_log_fields(result),
    )
    return status


def _script_run(attempt: Attempt, run: Run, cwd: str) -> str:
    env = run_env(attempt, run)
    if not services.run_claim(run, supervisor().name, cwd):
        return run.status
    script = _run_dir(attempt, run) / "script.sh"
    try:
        storage.file_write(script, run.prompt)
    except OSError as exc:
        services.run_finish(run, RunStatus.FAILED, exit_code=126, error_summary=str(exc))
        return RunStatus.FAILED
    result = _execute(run, Invocation(["bash", str(script)], cwd, env))
    status, summary = outcome(result, cwd)
    services.run_finish(
        run, status, exit_code=result.exit_code, error_summary=summary, **_log_fields(result)
    )
    return status


def _execute(run: Run, invocation: Invocation) -> ProcessResult:
    def record_pid(pid: int) -> None:
        Run.objects.filter(id=run.id).update(pid=pid)

    return execute(run.id, invocation, on_spawn=record_pid)


def _log_fields(result: ProcessResult) -> dict[str, object]:
    totals = result.totals
    return {"log_bytes": totals.bytes, "log_lines": totals.lines, "log_truncated": totals.truncated}


def outcome(result: ProcessResult, cwd: str) -> tuple[str, str]:
    """The run's status and a readable summary of how it ended (and of a full disk under
    `cwd` when it failed)."""
    status, summary = RunStatus.FAILED, ""
    if result.spawn_error:
        summary = result.spawn_error
    elif result.stop_reason == "user":
        status, summary = RunStatus.STOPPED, "stopped by user"
    elif result.stop_reason == "shutdown":
        status, summary = RunStatus.CRASHED, f"worker '{supervisor().name}' shut down"
    elif result.exit_code == 0:
        status = RunStatus.SUCCESS
    else:
        summary = describe_exit(result.exit_code)
    notes = [summary, result.totals.error]
    if status == RunStatus.FAILED:
        notes.append(storage.low_disk_note(cwd))
    return status, "; ".join(note for note in notes if note)


def describe_exit(code: int) -> str:
    if code > 128:
        sig = code - 128
        if sig == signal.SIGKILL:
            return "killed (out of memory or external signal)"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            return f"exited with code {code}"
        return {"SIGTERM": "terminated (SIGTERM)", "SIGINT": "interrupted (SIGINT)"}.get(
            name, f"killed by {name}"
        )
    return {
        126: "command could not be executed (permission denied or not executable)",
        127: "command not found",
    }.get(code, f"exited with code {code}")


def run_env(attempt: Attempt, run: Run) -> dict[str, str]:
    task = attempt.task
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    env.update({k: str(v) for k, v in task.project.env.items()})
    env.update(
        {
            "CONDUCTOR_PROJECT_ID": task.project_id,
            "CONDUCTOR_TASK_ID": task.task_id,
            "CONDUCTOR_RUN_ID": run.id,
            "CONDUCTOR_TASK_DIR": str(storage.task_dir(task.project_id, task.task_id)),
            "CONDUCTOR_RUN_DIR": str(_run_dir(attempt, run)),
            "CONDUCTOR_API_URL": str(settings.CONDUCTOR["API_URL"]),
        }
    )
    return env


def _run_dir(attempt: Attempt, run: Run) -> Path:
    task = attempt.task
    return storage.run_dir(task.project_id, task.task_id, run.id)


def _stdout_ends(run: Run) -> tuple[str, str]:
    chunks = LogChunk.objects.filter(run_id=run.id, stream=LogChunk.Stream.STDOUT)
    head = "".join(chunks.order_by("seq").values_list("text", flat=True)[:2])
    tail = "".join(reversed(chunks.order_by("-seq").values_list("text", flat=True)[:2]))
    return head, tail


def _write_output(attempt: Attempt, run: Run, final: str) -> None:
    """The agent's final message as output.md, unless the agent left something there."""
    if not final:
        return
    try:
        storage.file_write(_run_dir(attempt, run) / "output.md", final + "\n", replace=False)
    except OSError as exc:
        log.warning("run %s: output.md not written: %s", run.id, exc)


def _foreign_worktree(attempt: Attempt) -> str:
    """What is wrong when the agent left its worktree no longer Conductor's, else ""."""
    if not attempt.worktree_path:
        return ""
    try:
        git.worktree_check(attempt.task.project.project_root, attempt.worktree_path)
    except git.GitError as exc:
        return str(exc)
    return ""


def _commit_if_dirty(attempt: Attempt, run: Run, status: str) -> None:
    path = attempt.worktree_path
    repo = attempt.task.project.project_root
    git.worktree_check(repo, path)
    if not git.is_dirty(path):
        Run.objects.filter(id=run.id).update(head_after=git.head_commit(path))
        return
    final = _final_summary(attempt, run)
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
    head = git.commit_all(path, message, repo=repo)
    Run.objects.filter(id=run.id).update(head_after=head)


def _final_summary(attempt: Attempt, run: Run) -> str:
    return (storage.file_text(_run_dir(attempt, run) / "output.md") or "").strip()
