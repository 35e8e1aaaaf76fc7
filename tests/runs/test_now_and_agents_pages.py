"""The Now page (active runs across projects, with stop) and the Agents page (profiles,
installed agent CLIs with their versions)."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conductor_site.live.models import Event
from projects.models import AgentProfile, Project
from runs.models import Run, RunStatus, Worker
from runs.views import NOW_LIMIT
from tests.projects.builders import make_run, make_task


def test_now_lists_active_runs_of_every_project(client: Client, project: Project) -> None:
    other = Project.objects.create(id="other")
    running = make_run(make_task(project, "a"), RunStatus.RUNNING)
    queued = make_run(make_task(other, "b"), RunStatus.QUEUED)
    ended = make_run(make_task(project, "c"), RunStatus.SUCCESS)

    page = client.get("/ui/now/").content.decode()

    assert f'data-run="{running.id}"' in page and f'data-run="{queued.id}"' in page
    assert ended.id not in page
    assert page.index(running.id) < page.index(queued.id)


def test_now_is_read_at_an_event_id_and_its_body_is_a_partial(
    client: Client, project: Project
) -> None:
    running = make_run(make_task(project, "a"), RunStatus.RUNNING)
    newest = Event.objects.create(type="run.changed", payload={"type": "run.changed"}).id

    page = client.get("/ui/now/").content.decode()
    body = client.get("/ui/now/live/").content.decode()

    assert f'data-cursor="{newest}" data-stream="/ws/events/" data-live="/ui/now/live/"' in page
    assert f'data-run="{running.id}"' in body and "<html" not in body
    Run.objects.filter(id=running.id).update(status=RunStatus.SUCCESS)
    assert "Nothing is running or queued." in client.get("/ui/now/live/").content.decode()
    assert client.post("/ui/now/live/").status_code == 405


def test_now_shows_at_most_its_limit_of_runs_and_counts_them_all(
    client: Client, project: Project
) -> None:
    for n in range(NOW_LIMIT + 1):
        make_run(make_task(project, f"t{n}"), RunStatus.QUEUED)

    page = client.get("/ui/now/").content.decode()

    assert page.count("<tr data-run=") == NOW_LIMIT
    assert f"{NOW_LIMIT + 1} active runs; the first {NOW_LIMIT} are shown." in page


def test_in_production_mode_now_lists_the_workers_with_their_load(
    client: Client, project: Project, settings: Any
) -> None:
    settings.EMBEDDED = False
    now = timezone.now()
    Worker.objects.create(name="host-a", heartbeat_at=now)
    Worker.objects.create(name="host-b", heartbeat_at=now - timedelta(hours=1))
    for task_id, status in [
        ("a", RunStatus.RUNNING),
        ("b", RunStatus.RUNNING),
        ("c", RunStatus.SUCCESS),
    ]:
        Run.objects.filter(id=make_run(make_task(project, task_id), status).id).update(
            worker="host-a"
        )

    page = client.get("/ui/now/").content.decode()

    row_a = page.split('data-worker="host-a"')[1].split("</tr>")[0]
    row_b = page.split('data-worker="host-b"')[1].split("</tr>")[0]
    assert "alive" in row_a and '<td class="num">2</td>' in row_a
    assert "not heard from" in row_b and '<td class="num">0</td>' in row_b


def test_in_embedded_mode_now_shows_no_workers(client: Client, db: None) -> None:
    Worker.objects.create(name="host-a", heartbeat_at=timezone.now())

    assert "host-a" not in client.get("/ui/now/").content.decode()


def test_stop_from_now_stops_a_run_that_has_not_started(client: Client, project: Project) -> None:
    run = make_run(make_task(project, "a"), RunStatus.QUEUED)

    response = client.post(f"/ui/runs/{run.id}/stop/")

    assert response.status_code == 302 and response["Location"] == "/ui/now/"
    assert Run.objects.get(id=run.id).status == RunStatus.STOPPED
    after = client.get("/ui/now/").content.decode()
    assert f"Stop sent to {run.id}" in after and f'data-run="{run.id}"' not in after


def test_stop_of_an_unknown_run_is_a_404(client: Client, db: None) -> None:
    assert client.post("/ui/runs/nope/stop/").status_code == 404
    assert client.get("/ui/runs/nope/stop/").status_code == 405


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with a `codex` that says its version, and nothing else."""
    folder = tmp_path / "bin"
    folder.mkdir()
    codex = folder / "codex"
    codex.write_text("#!/bin/sh\necho 'codex-cli 9.8.7'\n")
    codex.chmod(codex.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return folder


def test_the_agents_page_shows_installed_clis_with_versions(
    client: Client, db: None, bin_dir: Path
) -> None:
    page = client.get("/ui/agents/").content.decode()

    codex = page.split('data-agent="codex"')[1].split("</tr>")[0]
    gemini = page.split('data-agent="gemini"')[1].split("</tr>")[0]
    assert str(bin_dir / "codex") in codex and "codex-cli 9.8.7" in codex
    assert "not installed" in gemini
    assert "<title>Agents · Conductor</title>" in page
    assert page.count('id="agent-test"') == 1  # the test form once, in the page's body


def test_profiles_are_created_and_edited(client: Client, db: None) -> None:
    form = {
        "name": "fast-claude",
        "agent_type": "claude",
        "model": "haiku",
        "flags": "--verbose\n\n--max-turns=3\n",
        "env": "A=1\nB=x=y\n",
        "command": "",
    }

    created = client.post("/ui/agents/new/", form)
    edited = client.post("/ui/agents/fast-claude/edit/", {**form, "model": "sonnet"})

    assert created.status_code == 302 and edited.status_code == 302
    profile = AgentProfile.objects.get()
    assert profile.flags == ["--verbose", "--max-turns=3"]
    assert profile.env == {"A": "1", "B": "x=y"}
    assert profile.model == "sonnet"
    assert "fast-claude" in client.get("/ui/agents/").content.decode()
    assert "A=1\nB=x=y" in client.get("/ui/agents/fast-claude/edit/").content.decode()


def test_a_wrong_profile_is_refused_in_the_form(client: Client, db: None) -> None:
    form = {"name": "bad name", "agent_type": "robot", "env": "NOEQUALS"}

    page = client.post("/ui/agents/new/", form).content.decode()

    assert "Select a valid choice" in page and "not NAME=value" in page
    assert "must be 1-128 characters" in page
    assert not AgentProfile.objects.exists()
