"""The admin: every page answers, the run list searches and filters, a run's log is paged."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messagebus.models import Message
from projects.models import AgentProfile, Project
from runs.admin import LOG_PAGE_CHUNKS, LogChunkAdmin, RunAdmin
from runs.models import Attempt, DiffSnapshot, LogChunk, Run, RunStatus
from tasks.models import Task


@pytest.fixture
def admin_client(db: None, client: Client, django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def run(db: None) -> Run:
    project = Project.objects.create(id="demo", name="Demo")
    task = Task.objects.create(project=project, task_id="t1", title="Fix it", prompt="fix")
    attempt = Attempt.objects.create(task=task, agent="claude", branch="conductor/t1")
    return Run.objects.create(attempt=attempt, prompt="fix the parser", status=RunStatus.SUCCESS)


def add_chunks(run: Run, count: int, line: str = "line {seq}\n") -> None:
    now = timezone.now()
    chunks = [
        LogChunk(
            run=run,
            seq=seq,
            stream="stdout",
            text=line.format(seq=seq),
            line_count=1,
            created_at=now,
        )
        for seq in range(1, count + 1)
    ]
    LogChunk.objects.bulk_create(chunks, batch_size=500)


def test_it_answers_every_changelist_and_change_page(admin_client: Client, run: Run) -> None:
    add_chunks(run, 3)
    profile = AgentProfile.objects.create(name="fast", agent_type="claude")
    message = Message.objects.create(msg_id="m1", project_id="demo", run=run, body="hello")
    pages = {
        "projects/project": "demo",
        "projects/agentprofile": profile.pk,
        "tasks/task": run.attempt.task.pk,
        "runs/attempt": run.attempt.pk,
        "runs/run": run.pk,
        "runs/logchunk": LogChunk.objects.get(run=run, seq=1).pk,
        "runs/diffsnapshot": DiffSnapshot.objects.create(attempt=run.attempt, files=[{}]).pk,
        "messagebus/message": message.pk,
    }
    for model, pk in pages.items():
        assert admin_client.get(f"/admin/{model}/").status_code == 200, model
        assert admin_client.get(f"/admin/{model}/{pk}/change/").status_code == 200, model


def test_it_shows_runs_inline_on_the_attempt_and_attempts_on_the_task(
    admin_client: Client, run: Run
) -> None:
    attempt_page = admin_client.get(f"/admin/runs/attempt/{run.attempt.pk}/change/")
    task_page = admin_client.get(f"/admin/tasks/task/{run.attempt.task.pk}/change/")

    assert run.pk in attempt_page.content.decode()
    assert run.attempt.pk in task_page.content.decode()


def test_it_searches_and_filters_the_run_list(admin_client: Client, run: Run) -> None:
    other = Run.objects.create(
        attempt=run.attempt, kind=Run.Kind.SETUP, prompt="", status=RunStatus.FAILED
    )

    by_prompt = admin_client.get("/admin/runs/run/", {"q": "parser"}).content.decode()
    by_status = admin_client.get("/admin/runs/run/", {"status__exact": "failed"}).content.decode()
    by_kind = admin_client.get("/admin/runs/run/", {"kind__exact": "agent"}).content.decode()

    assert run.pk in by_prompt and other.pk not in by_prompt
    assert other.pk in by_status and run.pk not in by_status
    assert run.pk in by_kind and other.pk not in by_kind


@pytest.mark.parametrize(
    "url", ["/admin/runs/run/", "/admin/runs/attempt/", "/admin/messagebus/message/"]
)
def test_it_lists_rows_in_a_fixed_number_of_queries(
    admin_client: Client, run: Run, url: str
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    Message.objects.create(msg_id="m0", project_id="demo", task=run.attempt.task, run=run)
    one = queries()
    for n in range(1, 10):
        attempt = Attempt.objects.create(task=run.attempt.task, agent="codex")
        other = Run.objects.create(attempt=attempt)
        Message.objects.create(msg_id=f"m{n}", project_id="demo", task=attempt.task, run=other)

    assert queries() == one


def test_it_pages_the_log_on_the_run_page(admin_client: Client, run: Run) -> None:
    add_chunks(run, LOG_PAGE_CHUNKS + 5)
    url = f"/admin/runs/run/{run.pk}/change/"

    first = admin_client.get(url).content.decode()
    second = admin_client.get(url, {"log_page": 2}).content.decode()

    assert "line 1\n" in first and f"line {LOG_PAGE_CHUNKS}\n" in first
    assert f"line {LOG_PAGE_CHUNKS + 1}\n" not in first
    assert "?log_page=2" in first
    assert f"line {LOG_PAGE_CHUNKS + 1}\n" in second and f"line {LOG_PAGE_CHUNKS + 5}\n" in second
    assert "line 1\n" not in second
    assert "?log_page=1" in second and "?log_page=3" not in second
    assert admin_client.get(url, {"log_page": 99}).content.decode().count("line ") == 5
    assert "Page 1 of 2" in admin_client.get(url, {"log_page": "x"}).content.decode()


def test_it_keeps_a_big_log_page_small(admin_client: Client, run: Run) -> None:
    add_chunks(run, 3000, line="{seq:06d} " + "x" * 1016 + "\n")
    Run.objects.filter(pk=run.pk).update(log_lines=3000, log_bytes=3000 * 1024)

    response = admin_client.get(f"/admin/runs/run/{run.pk}/change/")

    assert response.status_code == 200
    assert len(response.content) < 500_000
    body = response.content.decode()
    assert "3000 lines, 3072000 bytes" in body and "Page 1 of 15" in body


def test_it_cuts_a_page_at_the_character_cap(
    admin_client: Client, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runs.admin.LOG_PAGE_CHARS", 10_000)
    add_chunks(run, 50, line="{seq:06d} " + "x" * 1016 + "\n")

    response = admin_client.get(f"/admin/runs/run/{run.pk}/change/")

    body = response.content.decode()
    assert "000009 " in body and "000011 " not in body
    assert "inside chunk 10" in body


def test_it_previews_log_chunks_and_filters_them_by_run(admin_client: Client, run: Run) -> None:
    add_chunks(run, 2, line="{seq}" + "y" * 5000 + "\n")
    other = Run.objects.create(attempt=run.attempt, kind=Run.Kind.CLEANUP)

    page = admin_client.get("/admin/runs/logchunk/", {"run": run.pk}).content.decode()
    none = admin_client.get("/admin/runs/logchunk/", {"run": other.pk}).content.decode()

    assert "1" + "y" * 199 + "…" in page and "y" * 201 not in page
    assert "y" * 10 not in none


def test_it_offers_no_add_for_runs_attempts_and_log_chunks(
    admin_client: Client, rf: Any, django_user_model: Any
) -> None:
    request = rf.get("/admin/")
    request.user = django_user_model.objects.get(username="admin")
    run_admin = RunAdmin(Run, admin.site)
    chunk_admin = LogChunkAdmin(LogChunk, admin.site)

    assert not run_admin.has_add_permission(request)
    assert not chunk_admin.has_add_permission(request)
    assert not chunk_admin.has_change_permission(request)
    assert not chunk_admin.has_delete_permission(request)
    for model in ("runs/run", "runs/attempt", "runs/logchunk"):
        assert admin_client.get(f"/admin/{model}/add/").status_code == 403, model


def test_it_deletes_no_project_task_attempt_or_run(admin_client: Client, run: Run) -> None:
    """Those go through the API or the dashboard, which refuse while something runs, remove
    the folders and worktrees and hold the bus's lock: the admin's delete did none of it."""
    task = run.attempt.task
    pages = {
        "projects/project": task.project_id,
        "tasks/task": task.pk,
        "runs/attempt": run.attempt_id,
        "runs/run": run.pk,
    }
    for model, pk in pages.items():
        page = f"/admin/{model}/{pk}/delete/"
        assert admin_client.post(page, {"post": "yes"}).status_code == 403, model
        changelist = admin_client.get(f"/admin/{model}/").content.decode()
        assert 'value="delete_selected"' not in changelist, model
    assert (
        Run.objects.filter(pk=run.pk).exists()
        and Project.objects.filter(pk=task.project_id).exists()
    )


def test_it_shows_the_admission_gate_read_only(admin_client: Client) -> None:
    from tasks.models import Gate

    gate = Gate.objects.create(id=1, state="failed", last_error="hook exited 3")

    assert "hook exited 3" in admin_client.get("/admin/tasks/gate/").content.decode()
    assert admin_client.get(f"/admin/tasks/gate/{gate.pk}/change/").status_code == 200
    assert admin_client.get("/admin/tasks/gate/add/").status_code == 403
