"""Creating tasks, starting their attempts and follow-ups, the Ralph loop, moving them on the
board, cancelling, deleting."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from conductor_site.errors import DomainError
from conductor_site.locks import delete_lock, row_lock
from projects import storage
from projects.creation import project_ensure
from projects.models import Project
from projects.selectors import attempts_with_worktrees, has_active_work, operation_held
from runs import services as run_services
from runs.agents import agent_for
from runs.events import attempt_status_changed
from runs.models import ACTIVE_STATUSES, Attempt, Run, RunStatus
from runs.tasks import enqueue_followup, enqueue_worktree_retire
from tasks import planner, threads
from tasks.dependencies import dependency_cycle_refuse
from tasks.events import task_changed
from tasks.images import image_paths, image_upload, prompt_with_images
from tasks.locked import task_locked
from tasks.models import Draft, Task
from tasks.selectors import is_done
from tasks.tags import prompt_expand


class TaskConflict(Exception):
    """The request contradicts what exists (HTTP 409)."""


class TaskNotFound(Exception):
    pass


class StartsDisabled(DomainError):
    """This server starts no tasks (HTTP 503)."""

    status_code = 503


def task_start_check() -> None:
    """Refuse a start (a task, an attempt, a follow-up, a retry, a subtask) while this server
    starts none (`conductor serve --disable-task-start`), before its input is read."""
    if settings.CONDUCTOR["DISABLE_TASK_START"]:
        raise StartsDisabled("task execution is disabled on this server (--disable-task-start)")


@dataclass
class Started:
    task: Task
    run: Run
    queued: bool = False
    queue_position: int = 0


def task_submit(
    *,
    project_id: str,
    task_id: str,
    agent_type: str,
    prompt: str,
    attach_mode: str = "create",
    config: dict[str, Any] | None = None,
    depends_on: list[str] | None = None,
    project_root: str = "",
    thread_parent: dict[str, str] | None = None,
    title: str = "",
    parent_attempt: Attempt | None = None,
    base_branch: str = "",
    images: Sequence[UploadedFile] = (),
) -> Started:
    """`POST /api/v1/tasks` and the board: create (or attach to, or resume) a task and start
    or queue it. Without a `title` the prompt's first line is the title. `@tag`s in the
    prompt are expanded first (`tasks.tags`): the task and its run keep the expanded prompt. A
    subtask made from `parent_attempt` starts from its branch (`subtask_submit`). The board
    sends `images` to attach to the new task (before its run's prompt names them) and the
    `base_branch` its attempt's branch is made from."""
    agent_for(agent_type).check()
    prompt = prompt_expand(prompt)
    with transaction.atomic():
        if planner.gate_locked().draining:
            raise TaskConflict("a self-update is draining the server: no new task starts now")
        parent = threads.parent_message(thread_parent) if thread_parent else None
        project = project_ensure(project_id=project_id, project_root=project_root)
        task = row_lock(Task.objects.filter(project=project, task_id=task_id)).first()
        if attach_mode == "create":
            if task is not None and not task.is_bus_only:
                raise TaskConflict(
                    f"task {task_id!r} already exists in project {project_id!r}: use "
                    "attach_mode 'attach' for a new attempt or 'resume' to follow up"
                )
            fields = _task_fields(title, agent_type, prompt, config, depends_on)
            fields["parent_attempt"] = parent_attempt
            task = _task_new(project, task_id, fields, task, images)
            if parent is not None:
                threads.link_child(task, parent, thread_parent or {})
        elif task is None or task.is_bus_only:
            raise TaskNotFound(f"task {task_id!r} not found in project {project_id!r}")
        prompt = prompt_with_images(task, prompt)
        if attach_mode == "resume":
            return Started(task, followup_start(task, prompt))
        return _attempt_submit(task, agent_type, prompt, base_branch)


def task_save(
    *,
    project: Project,
    task_id: str,
    agent_type: str,
    prompt: str,
    title: str = "",
    depends_on: list[str] | None = None,
    images: Sequence[UploadedFile] = (),
) -> Task:
    """The board's "save for later": the task, in To do, with no attempt yet; it starts
    later as any task does (`POST /api/v1/attempts`). `@tag`s are expanded now, as a submit
    does, so the stored prompt is the one its agent will get."""
    agent_for(agent_type).check()
    prompt = prompt_expand(prompt)
    with transaction.atomic():
        found = row_lock(Task.objects.filter(project=project, task_id=task_id)).first()
        if found is not None and not found.is_bus_only:
            raise TaskConflict(f"task {task_id!r} already exists in project {project.id!r}")
        fields = _task_fields(title, agent_type, prompt, None, depends_on)
        return _task_new(project, task_id, fields, found, images)


def _task_new(
    project: Project,
    task_id: str,
    fields: dict[str, Any],
    bus_only: Task | None,
    images: Sequence[UploadedFile],
) -> Task:
    """A new task with its images, in the caller's transaction, refused when its
    dependencies would make a cycle."""
    dependency_cycle_refuse(project_id=project.id, task_id=task_id, depends_on=fields["depends_on"])
    task = _task_create(project, task_id, fields, bus_only)
    for upload in images:
        image_upload(task, upload)
    return task


def attempt_submit(task: Task, *, agent: str, prompt: str, base_branch: str = "") -> Started:
    """`POST /api/v1/attempts`: a new attempt on an existing task, its branch made from
    `base_branch` (else the project's default), admitted or queued as any attempt is."""
    agent_for(agent).check()
    with transaction.atomic():
        if planner.gate_locked().draining:
            raise TaskConflict("a self-update is draining the server: no new attempt starts now")
        task_locked(task)
        return _attempt_submit(task, agent, prompt, base_branch)


def _attempt_submit(task: Task, agent: str, prompt: str, base_branch: str = "") -> Started:
    run = attempt_create(task, agent, prompt, base_branch)
    planner.admit()
    attempt = Attempt.objects.get(id=run.attempt_id)
    position = planner.queue_position(attempt)
    return Started(task, run, queued=attempt.admitted_at is None, queue_position=position)


def _task_fields(
    title: str,
    agent_type: str,
    prompt: str,
    config: dict[str, Any] | None,
    depends_on: list[str] | None,
) -> dict[str, Any]:
    return {
        "title": title.strip()[:300] or _title(prompt),
        "prompt": prompt,
        "agent_type": agent_type,
        "config": config or {},
        "depends_on": depends_on or [],
    }


def _task_create(
    project: Project, task_id: str, fields: dict[str, Any], bus_only: Task | None
) -> Task:
    """A new task, or the bus-only one a message made (locked by the caller) filled in."""
    try:
        with transaction.atomic():
            if bus_only is None:
                task = Task.objects.create(project=project, task_id=task_id, **fields)
            else:
                task = bus_only
                for name, value in fields.items():
                    setattr(task, name, value)
                task.save()
    except IntegrityError as exc:
        raise TaskConflict(f"task {task_id!r} already exists in project {project.id!r}") from exc
    task_changed(task, "created")
    try:  # the caller's transaction undoes the task when its folder cannot be written
        storage.file_write(storage.task_dir(project.id, task_id) / "TASK.md", fields["prompt"])
    except storage.PathRefused as exc:
        raise TaskConflict(f"task {task_id!r}: its folder cannot be written: {exc}") from exc
    return task


def _title(prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    return first.lstrip("#").strip()[:300]


def subtask_submit(parent: Attempt, *, task_id: str, agent_type: str, prompt: str) -> Started:
    """`POST /api/v1/attempts/<a>/children`: a new task in the attempt's project whose
    attempts start from the attempt's branch."""
    if not parent.branch:
        raise TaskConflict(f"attempt {parent.id} has no branch yet to start a subtask from")
    project_id = parent.task.project_id
    return task_submit(
        project_id=project_id,
        task_id=task_id,
        agent_type=agent_type,
        prompt=prompt,
        parent_attempt=parent,
    )


def attempt_create(task: Task, agent: str, prompt: str, base_branch: str = "") -> Run:
    """A new attempt, waiting for the planner, with its agent run; a subtask's starts from
    the branch of the attempt it was made from, unless told otherwise."""
    if not base_branch and task.parent_attempt_id:
        parent = Attempt.objects.filter(id=task.parent_attempt_id).values_list("branch", flat=True)
        base_branch = parent.first() or ""
    with transaction.atomic():
        attempt = Attempt.objects.create(task=task, agent=agent, base_branch=base_branch)
        attempt_status_changed(attempt.id, "created")
        return run_services.run_create(attempt, Run.Kind.AGENT, prompt)


def followup_start(task: Task, prompt: str, resume_session: bool = True, delay: float = 0) -> Run:
    """A new agent run in the task's latest attempt; it resumes the agent's session unless
    told not to (a Ralph loop iteration starts fresh)."""
    with transaction.atomic():  # the row lock makes "nothing active here" hold until commit
        attempt = row_lock(task.attempts.order_by("-created_at")).first()
        if attempt is None:
            raise TaskConflict(f"task {task.task_id!r} has no attempt to resume")
        if _attempt_busy(attempt):
            raise TaskConflict(f"task {task.task_id!r} is still running: stop it or wait")
        run = _followup_create(attempt, prompt, resume_session)
        enqueue_followup(run, countdown=delay)
    return run


def attempt_followup(attempt: Attempt, prompt: str) -> tuple[Run, bool]:
    """`POST /api/v1/attempts/{id}/follow-up`: a run resuming the agent's session in the
    attempt's worktree, sent now when nothing runs there, else left waiting (never sent) for
    `attempt_ended` to send once the active work is over; True when it waits."""
    prompt = prompt_expand(prompt)
    with transaction.atomic():  # locked as followup_start locks: busy-ness holds until commit
        if planner.gate_locked().draining:
            raise TaskConflict("a self-update is draining the server: no follow-up starts now")
        attempt = run_services.attempt_locked(attempt.id)
        busy = _attempt_busy(attempt)
        run = _followup_create(attempt, prompt, resume_session=True)
        if not busy:
            enqueue_followup(run)
    return run, busy


def queued_draft_send(attempt_id: str) -> Run | None:
    """Send the attempt's queued draft as its next follow-up, through `attempt_followup` as
    `POST /api/v1/attempts/{id}/follow-up` does, and remove it (the run keeps its prompt: the
    box a user writes in is empty again). Only while the attempt is idle: nothing runs or
    waits there and no operation holds it; else, or while a self-update drains, the draft
    stays queued for the end of that work (or housekeeping) to send. None when nothing was
    sent."""
    with suppress(TaskConflict), transaction.atomic():
        attempt = row_lock(Attempt.objects.filter(id=attempt_id)).first()
        if attempt is None or attempt.operation or _attempt_busy(attempt):
            return None
        draft = row_lock(Draft.objects.filter(attempt=attempt, queued=True)).first()
        if draft is None or not draft.prompt.strip():
            return None
        run, _ = attempt_followup(attempt, draft.prompt)
        draft.delete()
        attempt_status_changed(attempt.id, "draft_sent")
        return run
    return None


def queued_drafts_send() -> int:
    """Housekeeping's safety net: the queued drafts of idle attempts that no end of a run
    sent (saved while an operation held the attempt, or while a self-update drained)."""
    drafts = Draft.objects.filter(queued=True, attempt__operation="").exclude(
        attempt__status__in=ACTIVE_STATUSES
    )
    attempt_ids = list(drafts.exclude(prompt="").values_list("attempt_id", flat=True)[:100])
    return sum(queued_draft_send(attempt_id) is not None for attempt_id in attempt_ids)


def _attempt_busy(attempt: Attempt) -> bool:
    """Its pipeline or a run of it is active; a dev server is not work a follow-up waits for."""
    active = attempt.runs.filter(status__in=ACTIVE_STATUSES).exclude(kind=Run.Kind.DEV_SERVER)
    return attempt.status in ACTIVE_STATUSES or active.exists()


def _followup_create(attempt: Attempt, prompt: str, resume_session: bool) -> Run:
    """The run resumes the session bound to the attempt's latest agent run (its
    `previous_run`) that no retry set aside, never whatever session the machine saw last."""
    agent_runs = attempt.runs.filter(kind=Run.Kind.AGENT, dropped_at=None)
    previous = agent_runs.order_by("-created_at").first()
    return run_services.run_create(
        attempt, Run.Kind.AGENT, prompt, previous_run=previous if resume_session else None
    )


def _followup_waiting_send(attempt_id: str) -> bool:
    """Send the oldest follow-up left waiting behind the work that just ended; True if one.
    Not while the attempt is busy (a duplicate delivery ends too while the real one runs),
    and never its first agent run, which the attempt's own start runs (a follow-up always
    resumes a `previous_run`)."""
    with transaction.atomic():
        attempt = row_lock(Attempt.objects.filter(id=attempt_id)).first()
        if attempt is None or attempt.status in (RunStatus.CREATED, RunStatus.RUNNING):
            return False
        run = (
            attempt.runs.filter(
                kind=Run.Kind.AGENT,
                status=RunStatus.QUEUED,
                enqueued_at=None,
                previous_run__isnull=False,
            )
            .order_by("created_at", "id")
            .first()
        )
        if run is not None:
            enqueue_followup(run)
    return run is not None


def attempt_ended(attempt_id: str) -> None:
    """After an attempt's pipeline: send the follow-up waiting behind it, else its queued
    draft, else continue a Ralph loop; then let waiting tasks in."""
    attempt = Attempt.objects.select_related("task").filter(id=attempt_id).first()
    if attempt is not None:
        task_done_record(attempt.task)
        threads.post_outcome(attempt)
        if not _followup_waiting_send(attempt.id) and queued_draft_send(attempt.id) is None:
            _loop_continue(attempt.task)
    planner.admit()


def task_done_record(task: Task) -> None:
    """Record whether the agent's `DONE` marker is in the task folder, as the worker that ran
    it sees it once a run ended: the lists read `done_at`, never the folder (a `stat` per task
    made a list of 10,000 tasks take a second). Nothing when the folder is not there: a
    delete under way set it aside (and may be refused, then put it back), so no marker in
    it says nothing of the task."""
    if not storage.folder_exists(storage.task_dir(task.project_id, task.task_id)):
        return
    marker = storage.file_stat(_done_marker(task))
    done_at = None if marker is None else (task.done_at or timezone.now())
    _done_at_set(task, done_at)


def _done_at_set(task: Task, done_at: datetime | None) -> None:
    """Store `done_at`; a change of done-ness is a task change (the board shows it)."""
    changed = (task.done_at is None) != (done_at is None)
    with transaction.atomic():
        Task.objects.filter(id=task.id).update(done_at=done_at)
        task.done_at = done_at
        if changed:
            task_changed(task, "updated")


def task_done_remove(task: Task) -> bool:
    """Remove the `DONE` marker (resume) and its record; False when there was no marker."""
    removed = storage.file_remove(_done_marker(task))
    _done_at_set(task, None)
    return removed


def _done_marker(task: Task) -> Path:
    return storage.task_dir(task.project_id, task.task_id) / "DONE"


def _loop_continue(task: Task) -> None:
    loop = task.loop
    if loop is None or task.column == Task.Column.CANCELLED or is_done(task):
        return
    done = Run.objects.filter(attempt__task=task, kind=Run.Kind.AGENT).count()
    if done >= loop.max_iterations:
        return
    with suppress(TaskConflict):  # already running again: a resume raced us
        followup_start(task, task.prompt, resume_session=False, delay=loop.delay_seconds)


def task_resume_loop(task: Task) -> None:
    """After `DONE` was removed: start the loop again if nothing runs."""
    if task.loop is None or task.attempts.filter(status__in=ACTIVE_STATUSES).exists():
        return
    _column_move(task, Task.Column.IN_PROGRESS)
    with suppress(TaskConflict):  # the attempt that just ended saw no DONE and went on itself
        followup_start(task, task.prompt, resume_session=False)


class TaskMoveRefused(DomainError):
    """The column or a neighbour of a move is wrong (HTTP 400)."""


def task_move(task: Task, column: str, *, after: str = "", before: str = "") -> Task:
    """Put the task in a board column between two of its cards, named by task id (`after`
    above it, `before` below; neither: at the end). Moving it to `cancelled` cancels it
    (`task_cancel`): a cancelled card never keeps an agent running."""
    if column not in Task.Column.values:
        raise TaskMoveRefused(f"column must be one of {', '.join(Task.Column.values)}")
    with transaction.atomic():
        task_locked(task)  # one move at a time
        position = _position_between(
            task.project_id,
            column,
            _neighbour(task, column, "after", after),
            _neighbour(task, column, "before", before),
        )
        Task.objects.filter(pk=task.pk).update(column=column, position=position)
        task.refresh_from_db()
        task_changed(task, "moved")
    if column == Task.Column.CANCELLED:
        task_cancel(task)
    task.refresh_from_db()
    return task


def _neighbour(task: Task, column: str, name: str, task_id: str) -> Task | None:
    if not task_id:
        return None
    found = Task.objects.filter(project_id=task.project_id, task_id=task_id, column=column)
    neighbour = found.exclude(pk=task.pk).first()
    if neighbour is None:
        raise TaskMoveRefused(f"{name}: no other task {task_id!r} in column {column!r}")
    return neighbour


def _position_between(
    project_id: str,
    column: str,
    after: Task | None,
    before: Task | None,
    renumbered: bool = False,
) -> float:
    """A position between the neighbours; when none is left between them (equal, or
    floats exhausted) the column is renumbered 0, 1, 2, ... first."""
    if after is None:
        return _column_end(project_id, column) if before is None else before.position - 1
    if before is None:
        return after.position + 1
    middle = (after.position + before.position) / 2
    if after.position < middle < before.position:
        return middle
    if renumbered:  # still nothing between them: they were not neighbours in this order
        return after.position + 1
    _column_renumber(project_id, column)
    after.refresh_from_db(fields=["position"])
    before.refresh_from_db(fields=["position"])
    return _position_between(project_id, column, after, before, renumbered=True)


def _column_end(project_id: str, column: str) -> float:
    last = Task.objects.filter(project_id=project_id, column=column).order_by("-position")
    top = last.values_list("position", flat=True).first()
    return 0.0 if top is None else top + 1


def _column_renumber(project_id: str, column: str) -> None:
    tasks = list(
        Task.objects.filter(project_id=project_id, column=column).order_by("position", "id")
    )
    for index, task in enumerate(tasks):
        task.position = float(index)
    Task.objects.bulk_update(tasks, ["position"], batch_size=500)


def task_cancel(task: Task, wait: bool = False) -> list[str]:
    """Stop the task's running runs and dequeue what has not started, whether it waits for
    the planner or was already sent to a worker; keep its data. Returns the ids of the runs
    it stopped; with `wait`, once they ended (bounded, as `/runs/<r>/stop`)."""
    _column_move(task, Task.Column.CANCELLED)
    for attempt_id in task.attempts.filter(status=RunStatus.CREATED).values_list("id", flat=True):
        run_services.attempt_stop_unstarted(attempt_id, "cancelled before it started")
    stopped = []
    for run in Run.objects.filter(attempt__task=task, status__in=ACTIVE_STATUSES):
        run_services.run_stop(run)
        stopped.append(run.id)
    planner.admit()
    if wait:
        run_services.runs_await_end(stopped)
    return stopped


def _column_move(task: Task, column: str) -> None:
    with transaction.atomic():
        moved = Task.objects.filter(id=task.id).exclude(column=column).update(column=column)
        task.refresh_from_db()
        if moved:
            task_changed(task, "moved")


def task_delete(task: Task) -> None:
    tasks, name = Task.objects.filter(pk=task.pk), f"task {task.task_id!r}"
    delete_refused_while_active(tasks, name)  # before its folder is set aside: logs go there
    folder = storage.task_dir(task.project_id, task.task_id)
    with storage.folder_removed(folder), transaction.atomic():
        tasks_held_idle(tasks, name)
        enqueue_worktree_retire(attempts_with_worktrees(tasks))
        task_changed(task, "deleted")
        images = image_paths(task)
        delete_lock()  # before the delete collects the task's messages
        task.delete()
        for path in images:
            storage.file_remove(path)


def delete_refused_while_active(
    tasks: QuerySet[Task], name: str, advice: str = "stop them first"
) -> None:
    """Busy while anything of these tasks runs, waits or lands. An operation ends by itself
    within seconds (the archive right after a merge, say): it is waited for, as long as a
    stop may take, so that deleting a task just merged is not refused."""
    deadline = run_services.stop_deadline()
    while operation_held(tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
    if has_active_work(tasks):
        raise run_services.Busy(
            f"{name} has active runs, or a merge, rebase or archive in progress: {advice}"
        )


def tasks_held_idle(tasks: QuerySet[Task], name: str) -> None:
    """First in a delete's transaction: lock the tasks' attempts, then the tasks, in pk
    order, as their own changes take them (each row before the event log's lock), and refuse
    (Busy) if anything of them is active now. Until the delete commits nothing of them can
    start (whatever makes a run or an attempt takes its attempt's or task's row first:
    `attempt_locked`, `task_locked`), take an attempt for a merge or an archive (its slot is
    the attempt's row) or change: the check before the delete's folder was set aside ran
    without locks, and a run started meanwhile would have lost its rows mid-write.
    The locks are PostgreSQL's FOR NO KEY UPDATE (`row_lock`), which a bare insert pointing at
    these rows does not wait for: an append's foreign key check at its commit reads its task's
    row, holding the bus's lock, which the delete takes next."""
    list(row_lock(Attempt.objects.filter(task__in=tasks)).order_by("pk").values("pk"))
    list(row_lock(tasks).order_by("pk").values("pk"))
    if has_active_work(tasks):
        raise run_services.Busy(f"{name} started work meanwhile: nothing was deleted")


def task_merged(task_pk: int) -> None:
    """An attempt of the task was merged into its target: the task is done on the board."""
    task = Task.objects.filter(id=task_pk).first()
    if task is not None:
        _column_move(task, Task.Column.DONE)
