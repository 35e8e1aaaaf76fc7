"""GET /api/projects, /api/projects/home-dirs and /api/projects/<p>."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from tasks.models import Task
from tests.helpers import assert_error
from tests.projects.builders import (
    assert_rfc3339_utc,
    make_run,
    make_task,
)


def test_it_lists_projects_most_recently_active_first(
    db: None, api: APIClient, project: Project, tmp_path: Path
) -> None:
    quiet = Project.objects.create(id="quiet", project_root=str(tmp_path))
    make_task(project, "a")
    make_run(make_task(project, "b"), age=timedelta(seconds=0))
    Project.objects.filter(id=quiet.id).update(updated_at=quiet.updated_at - timedelta(days=2))

    response = api.get("/api/projects")

    assert response.status_code == 200, response.content
    projects = response.json()["projects"]
    assert [p["id"] for p in projects] == ["demo", "quiet"]
    demo = projects[0]
    assert set(demo) == {"id", "last_activity", "task_count", "project_root"}
    assert (demo["task_count"], demo["project_root"]) == (2, project.project_root)
    assert_rfc3339_utc(demo["last_activity"])
    assert projects[1]["task_count"] == 0


def test_last_activity_is_the_latest_run(db: None, api: APIClient, project: Project) -> None:
    task = make_task(project, "t-activity")
    Project.objects.filter(id="demo").update(updated_at=project.created_at - timedelta(days=9))
    Task.objects.filter(id=task.id).update(updated_at=project.created_at - timedelta(days=9))
    run = make_run(task, age=timedelta(days=1))

    demo = api.get("/api/projects").json()["projects"][0]

    assert assert_rfc3339_utc(demo["last_activity"]) == run.ended_at


def test_an_empty_install_lists_no_projects(db: None, api: APIClient) -> None:
    assert api.get("/api/projects").json() == {"projects": []}


def test_home_dirs_are_project_roots_deduplicated_without_conductor_folders(
    db: None, api: APIClient, project: Project, tmp_path: Path
) -> None:
    Project.objects.create(id="same-root", project_root=project.project_root)
    Project.objects.create(id="other", project_root=str(tmp_path))
    Project.objects.create(id="bare")
    run = make_run(make_task(project, "t-cwd"))
    run.cwd = str(storage.task_dir("demo", "t-cwd"))
    run.save()
    outside = make_run(make_task(project, "t-cwd2"))
    outside.cwd = "/srv/elsewhere"
    outside.save()

    response = api.get("/api/projects/home-dirs")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "dirs": sorted({project.project_root, str(tmp_path), "/srv/elsewhere"})
    }


def test_project_detail(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "t-detail")

    response = api.get("/api/projects/demo")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["task_count"], body["project_root"]) == (
        "demo",
        1,
        project.project_root,
    )
    assert body["has_repository"] is True
    assert_rfc3339_utc(body["last_activity"])
    assert_rfc3339_utc(body["created_at"])


def test_an_unknown_project_is_404(db: None, api: APIClient) -> None:
    error = assert_error(api.get("/api/projects/nope"), 404, "NOT_FOUND")

    assert "nope" in error["error"]


def test_an_invalid_project_id_is_400(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/projects/bad.id"), 400, "BAD_REQUEST")
    assert_error(api.get("/api/projects/bad%0A"), 400, "BAD_REQUEST")
