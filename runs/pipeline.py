"""The attempt pipeline: worktree → setup → agent → commit → cleanup (shared/DESIGN.md §4),
and follow-ups. It keeps the order of the steps; the worktree's operations are in
`runs.workspace`, how a process ended in `runs.outcome`, state changes in `runs.services`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from messagebus.services import message_append
from projects import git, storage
from runs import diffs, diffwatch, services, workspace
from runs.agents import AgentNotFound, UnknownAgent, agent_for
from runs.models import Attempt, LogChunk, Run, RunStatus
from runs.outcome import outcome
from runs.supervisor import Invocation, ProcessResult, execute, supervisor

log = logging.getLogger(__name__)


def attempt_execute(attempt_id: str) -> None:
    """Run a new attempt from its worktree to its cleanup script."""
    sup = supervisor()
    if not services.attempt_claim(attempt_id, sup.name):
        return  # a duplicate delivery, or stopped before it started
    attempt = Attempt.objects.select_related("task__project").get(id=attempt_id)
    agent_run = attempt.runs.filter(kind=Run.Kind.AGENT).order_by("created_at").first()
    assert agent_run is not None
    with sup.tracking(attempt.id):
        try:
            cwd = workspace.workspace_prepare(attempt)
        except (workspace.WorkspaceError, git.GitError, OSError) as exc:
            _fail_before_agent(attempt, agent_run, RunStatus.FAILED, f"workspace: {exc}")
            return
        if _setup_ok(attempt, agent_run, cwd):
            ran_setup = bool(attempt.task.project.setup_script.strip())
            head = "" if ran_setup else attempt.base_commit
            _agent_then_wrap_up(attempt, agent_run, cwd, head_before=head)


def followup_execute(run_id: str) -> None:
    """Run a follow-up agent run in its attempt's existing worktree. The run is claimed
    first: a second delivery, or a run stopped meanwhile, finds nothing to claim and leaves
    the attempt alone (claiming the attempt first let a duplicate fail the real one)."""
    run = Run.objects.select_related("attempt__task__project").get(id=run_id)
    attempt = run.attempt
    cwd = workspace.attempt_cwd(attempt)
    if not services.run_claim(run, supervisor().name, cwd):
        return
    if not services.attempt_resume(attempt):
        services.run_finish(run, RunStatus.FAILED, error_summary="the attempt was busy")
        return
    with supervisor().tracking(attempt.id):
        try:
            workspace.workspace_restore(attempt)  # an archived worktree, from its branch
            if attempt.worktree_path:  # the agent works, and its work is committed, there
                workspace.branch_check(cwd, attempt.branch)
        except (workspace.WorkspaceError, workspace.WrongBranch, git.GitError, OSError) as exc:
            services.run_finish(run, RunStatus.FAILED, error_summary=f"workspace: {exc}")
            services.attempt_finish(attempt, RunStatus.FAILED, f"workspace: {exc}")
            return
        _agent_then_wrap_up(attempt, run, cwd)


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


def _agent_then_wrap_up(attempt: Attempt, run: Run, cwd: str, head_before: str = "") -> None:
    """The agent, then its commit and the cleanup script. `head_before` is the worktree's
    HEAD when nothing has run in it yet (its base commit), else "" (git is asked)."""
    workspace.workspace_ready(attempt, cwd)
    common = workspace.common_dir(attempt)
    status = _agent_run(attempt, run, cwd, head_before, common)
    run.refresh_from_db()
    summary = run.error_summary
    if attempt.worktree_path:
        try:
            workspace.commit_if_dirty(attempt, run, status, common)
        except git.GitError as exc:
            status, summary = RunStatus.FAILED, f"could not commit the agent's changes: {exc}"
        except workspace.WrongBranch as exc:
            status, summary = RunStatus.FAILED, f"the agent's changes were not committed: {exc}"
    script = attempt.task.project.cleanup_script
    if script.strip():
        cleanup = services.run_create(attempt, Run.Kind.CLEANUP, script, previous_run=run)
        cleanup_status = _script_run(attempt, cleanup, cwd)
        if cleanup_status != RunStatus.SUCCESS and status == RunStatus.SUCCESS:
            cleanup.refresh_from_db()
            status = RunStatus.FAILED
            summary = f"cleanup script {cleanup_status}: {cleanup.error_summary}"
    diffs.snapshot_store(attempt, run, common)
    workspace.worktree_measure(attempt)
    services.attempt_finish(attempt, status, summary)


def _agent_run(attempt: Attempt, run: Run, cwd: str, head_before: str, common: Path | None) -> str:
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
    head = head_before or (git.head_commit(cwd) if attempt.worktree_path else "")
    invocation = Invocation(argv, cwd, {**env, **command.env}, command.stdin)
    with diffwatch.watching(attempt, run, common):
        result = _execute(run, invocation, started=lambda: _task_started(attempt, run))
    stdout_head, stdout_tail = _stdout_ends(run)
    final = agent.final_message(stdout_tail)
    _write_output(attempt, run, final)
    status, summary = outcome(result, cwd)
    if foreign := workspace.foreign_worktree(attempt, common):
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


def _execute(
    run: Run, invocation: Invocation, started: Callable[[], None] | None = None
) -> ProcessResult:
    """`execute`, recording the pid; `started` is told once the process runs (what it
    writes no longer delays the agent's start)."""

    def spawned(pid: int) -> None:
        Run.objects.filter(id=run.id).update(pid=pid)
        if started is not None:
            started()

    return execute(run.id, invocation, on_spawn=spawned)


def _task_started(attempt: Attempt, run: Run) -> None:
    """The task's bus hears that its agent started (`task_start`)."""
    task = attempt.task
    message_append(
        project_id=task.project_id,
        task_id=task.task_id,
        run_id=run.id,
        type="task_start",
        body=f"{attempt.agent} started",
    )


def _log_fields(result: ProcessResult) -> dict[str, object]:
    totals = result.totals
    return {"log_bytes": totals.bytes, "log_lines": totals.lines, "log_truncated": totals.truncated}


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
