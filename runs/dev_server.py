"""Dev servers: the project's dev-server script run in an attempt's worktree as a Run of kind
`dev_server`, so a person can try the agent's work in a browser.

A dev server is a run like the setup script (own process group, log stored and streamed,
stopped SIGINT → SIGTERM → SIGKILL, killed when its worker shuts down) but outside the attempt's
pipeline: it leaves the attempt's status, the task's board column and admission control alone,
is never auto-committed, does not hold back a follow-up, and at most one runs per attempt. It
runs on the worker that owns the worktree (`dev_server_start` is an owner operation,
`runs.owner`), on a thread of its own rather than in the worker's pool. The first URL it prints
is stored on the run (`Run.url`), a wildcard host (`0.0.0.0`, `[::]`) shown as the loopback
address (`127.0.0.1`, `[::1]`) a browser on that host can open.

`dev_servers_stop(attempt)` stops them all and waits: call it before a worktree goes away.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from django.db import transaction

from conductor_site.db import connection_release
from conductor_site.errors import DomainError
from projects import storage
from runs import services, workspace
from runs.models import ACTIVE_STATUSES, Attempt, Run, RunStatus
from runs.outcome import outcome
from runs.pipeline import run_env
from runs.selectors import attempt_run_to_api
from runs.supervisor import Invocation, ProcessResult, execute, supervisor

log = logging.getLogger(__name__)

URL_MAX_CHARS = 2048
# A terminal escape (colours, an OSC hyperlink): dev servers colour their URLs.
ESCAPE_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
URL_RE = re.compile(
    r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?P<rest>(?::\d{1,5})?(?:/[^\s\"'<>`)\]}]*)?)"
)
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


class DevServerRefused(DomainError):
    """Nothing to serve, or a dev server runs already (HTTP 409)."""

    status_code = 409


def first_url(text: str) -> str:
    """The first http(s) URL in `text`, a wildcard host made the loopback address; ""."""
    for match in URL_RE.finditer(ESCAPE_RE.sub("", text)):
        host = WILDCARD_HOSTS.get(match["host"], match["host"])
        url = f"{match['scheme']}://{host}{match['rest'].rstrip('.,;:!?')}"
        if len(url) <= URL_MAX_CHARS:
            return url
    return ""


def dev_server_script(attempt: Attempt) -> str:
    """The project's dev-server script, or a refusal saying how to set one."""
    project = attempt.task.project
    if not project.dev_server_script.strip():
        raise DevServerRefused(
            f"project {project.id!r} has no dev-server script: set one on its edit page "
            f"(/ui/projects/{project.id}/edit/), or as `dev_server_script` when creating the "
            "project (POST /api/projects)",
            project_id=project.id,
        )
    return project.dev_server_script


def dev_server_start(attempt: Attempt) -> dict[str, Any]:
    """On the owner: start the dev server in the attempt's worktree; its run, `running`."""
    script = dev_server_script(attempt)
    cwd = _serving_dir(attempt)
    run = _run_create_alone(attempt, script)
    if services.run_claim(run, supervisor().name, cwd):
        threading.Thread(
            target=_serve, args=(run, cwd), name=f"dev-server-{run.id}", daemon=True
        ).start()
    return attempt_run_to_api(run)


def dev_server_latest(attempt: Attempt) -> Run | None:
    """The attempt's newest dev server run, running or not."""
    return attempt.runs.filter(kind=Run.Kind.DEV_SERVER).order_by("-created_at", "-id").first()


def dev_servers_stop(attempt: Attempt) -> list[str]:
    """Stop the attempt's dev servers, wherever they run, and wait (bounded, as a run's stop)
    until they ended; the ids of those asked to stop. Call it before archiving or removing
    the attempt's worktree: a server must not keep files open in a folder that goes away."""
    active = attempt.runs.filter(kind=Run.Kind.DEV_SERVER, status__in=ACTIVE_STATUSES)
    stopped = []
    for run in active:
        services.run_stop(run)
        stopped.append(run.id)
    supervisor().stop_local(stopped, "user")  # at once when they run here
    services.runs_await_end(stopped)
    return stopped


def _serving_dir(attempt: Attempt) -> str:
    """Where the script runs: the worktree (the task folder for a project without a
    repository), refused when there is none yet or it is gone."""
    if attempt.status == RunStatus.CREATED or (
        attempt.task.project.has_repository and not attempt.worktree_path
    ):
        raise DevServerRefused(
            f"attempt {attempt.id!r} has no worktree yet: start it once its agent has started",
            attempt_id=attempt.id,
        )
    cwd = workspace.attempt_cwd(attempt)
    if not os.path.isdir(cwd):
        raise DevServerRefused(
            f"attempt {attempt.id!r}'s worktree {cwd} no longer exists (archived or removed): "
            "there is nothing to serve",
            attempt_id=attempt.id,
            worktree_path=cwd,
        )
    return cwd


def _run_create_alone(attempt: Attempt, script: str) -> Run:
    """A new dev server run, unless one is active: under the attempt's row lock (SQLite's
    immediate transactions serialize the same way), so of two starts at once one wins."""
    with transaction.atomic():
        services.attempt_locked(attempt.id)
        active = attempt.runs.filter(kind=Run.Kind.DEV_SERVER, status__in=ACTIVE_STATUSES)
        if running := active.first():
            raise DevServerRefused(
                f"attempt {attempt.id!r} already runs a dev server: run {running.id} "
                f"({running.status}); stop it first (POST /api/v1/attempts/{attempt.id}"
                "/dev-server/stop)",
                run_id=running.id,
                status=running.status,
            )
        return services.run_create(attempt, Run.Kind.DEV_SERVER, script)


def _serve(run: Run, cwd: str) -> None:
    """The dev server's thread: its process from start to end; never leaves it running."""
    try:
        _serve_until_it_ends(run, cwd)
    except Exception as exc:
        log.exception("dev server run %s failed inside Conductor", run.id)
        services.run_finish(run, RunStatus.CRASHED, error_summary=f"internal error: {exc}")
    finally:
        connection_release()


def _serve_until_it_ends(run: Run, cwd: str) -> None:
    task = run.attempt.task
    script = storage.run_dir(task.project_id, task.task_id, run.id) / "script.sh"
    try:
        storage.file_write(script, run.prompt)
    except OSError as exc:
        services.run_finish(run, RunStatus.FAILED, exit_code=126, error_summary=str(exc))
        return
    invocation = Invocation(
        ["bash", str(script)], cwd, run_env(run.attempt, run), watch=_UrlCatcher(run.id)
    )
    result = execute(run.id, invocation, on_spawn=lambda pid: _pid_record(run, pid))
    status, summary = _ended(result, cwd)
    totals = result.totals
    services.run_finish(
        run,
        status,
        exit_code=result.exit_code,
        error_summary=summary,
        log_bytes=totals.bytes,
        log_lines=totals.lines,
        log_truncated=totals.truncated,
    )


def _ended(result: ProcessResult, cwd: str) -> tuple[str, str]:
    """As any run ended, but for a shutdown: stopping a dev server with its worker is the
    normal end of one, not a crash."""
    if result.stop_reason == "shutdown":
        return RunStatus.STOPPED, f"stopped: worker '{supervisor().name}' shut down"
    return outcome(result, cwd)


def _pid_record(run: Run, pid: int) -> None:
    Run.objects.filter(id=run.id).update(pid=pid)


class _UrlCatcher:
    """The reader threads' watch: the first URL printed goes on the run, then it stops
    looking."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.found = False

    def __call__(self, text: str) -> None:
        if self.found:
            return
        url = first_url(text)
        if not url:
            return
        self.found = True
        try:
            services.run_url_record(self.run_id, url)
        except Exception:  # the reader goes on storing the log whatever happened here
            log.exception("dev server run %s: its URL was not recorded", self.run_id)
        finally:
            connection_release()
