"""Every route that makes a project checks it the same way (`projects.creation`):
`POST /api/projects`, and implicitly `POST /api/v1/tasks` and a post to an unknown bus.
A refused project leaves no row and no folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from messagebus.models import Message
from projects import storage
from projects.models import Project
from tasks.models import Task
from tests.conftest import attempt_finished, run_finished

TASK = {"task_id": "t1", "agent_type": "shell", "prompt": "true"}


def assert_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    if field is not None:
        assert field in body["details"]["fields"], body
    return dict(body)


def assert_nothing_made() -> None:
    assert not Project.objects.exists()
    assert not Task.objects.exists()
    assert not Message.objects.exists()
    assert not storage.projects_dir().exists() or not any(storage.projects_dir().iterdir())


def task_post(api: APIClient, project_id: str, project_root: str = "") -> Any:
    body = {"project_id": project_id, "project_root": project_root, **TASK}
    return api.post("/api/v1/tasks", body, format="json")


def implicit_posts(api: APIClient, project_id: str) -> list[Any]:
    """The three implicit ways to make a project: a task, and a post to its bus."""
    return [
        task_post(api, project_id),
        api.post("/api/v1/messages", {"project_id": project_id, "body": "x"}, format="json"),
        api.post(f"/api/projects/{project_id}/messages", {"body": "x"}, format="json"),
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder.resolve()


@pytest.mark.parametrize("reserved", ["_worktrees", "_audit"])
def test_a_reserved_id_is_400_on_every_route(db: None, api: APIClient, reserved: str) -> None:
    for response in implicit_posts(api, reserved):
        assert "reserved" in assert_error(response, 400, "project_id")["error"]
    assert_nothing_made()


def test_a_project_root_inside_the_data_dir_is_400_for_a_task_too(db: None, api: APIClient) -> None:
    inside = Path(settings.DATA_DIR) / "inside"
    inside.mkdir()

    for root in (inside, Path(settings.DATA_DIR)):
        response = task_post(api, "p1", str(root))
        assert "data dir" in assert_error(response, 400, "project_root")["error"]
    assert_nothing_made()


@pytest.mark.parametrize(
    "root",
    ["/tmp/" + "a" * 300, "/tmp" + "/aaaaaaaa" * 600, "/tmp" + "/aaaaaaaa" * 300],
    ids=["a long name", "a long path", "a long missing path"],
)
def test_an_over_long_project_root_is_400_not_500(db: None, api: APIClient, root: str) -> None:
    responses = [
        api.post("/api/projects", {"project_id": "p1", "project_root": root}, format="json"),
        task_post(api, "p1", root),
    ]

    for response in responses:
        assert_error(response, 400, "project_root")
    assert_nothing_made()


@pytest.mark.parametrize(
    "branch", ["-x", "--upload-pack=touch /tmp/pwned", "a..b", "a b", "x.lock"]
)
def test_a_default_branch_that_is_no_branch_name_is_400(
    db: None, api: APIClient, home: Path, branch: str
) -> None:
    body = {"project_id": "p1", "project_root": str(home), "default_branch": branch}

    response = api.post("/api/projects", body, format="json")

    assert "branch name" in assert_error(response, 400, "default_branch")["error"]
    assert_nothing_made()


@pytest.mark.parametrize(("field", "length"), [("name", 201), ("default_branch", 256)])
def test_a_name_or_branch_longer_than_its_column_is_400_not_500(
    db: None, api: APIClient, home: Path, field: str, length: int
) -> None:
    body = {"project_id": "p1", "project_root": str(home), field: "b" * length}

    assert_error(api.post("/api/projects", body, format="json"), 400, field)
    assert_nothing_made()


@pytest.mark.parametrize("branch", ["main", "feature/x", "release-1.2"])
def test_a_valid_default_branch_is_kept(db: None, api: APIClient, home: Path, branch: str) -> None:
    body = {"project_id": "p1", "project_root": str(home), "default_branch": branch}

    assert api.post("/api/projects", body, format="json").status_code == 201
    assert Project.objects.get(id="p1").default_branch == branch


@pytest.mark.parametrize("project_id", ["secret_key", "static", "projects", "conductor"])
def test_ids_that_were_conductors_own_names_are_plain_projects(
    work: str, api: APIClient, project_id: str
) -> None:
    secret = Path(settings.DATA_DIR) / "secret_key"
    secret.write_text("kept")

    response = task_post(api, project_id)

    assert response.status_code == 201, response.content
    assert (storage.task_dir(project_id, "t1") / "TASK.md").read_text() == "true"
    run = run_finished(response.json()["run_id"])
    assert attempt_finished(run.attempt_id).status == "success"
    deleted = api.delete(f"/api/projects/{project_id}")
    assert deleted.status_code == 200, deleted.content
    assert not Project.objects.filter(id=project_id).exists()
    assert secret.read_text() == "kept"


def test_a_folder_that_cannot_be_made_leaves_no_project(
    db: None, api: APIClient, home: Path
) -> None:
    storage.projects_dir().mkdir()
    storage.project_dir("p1").write_text("a file where the project's folder would go")
    body = {"project_id": "p1", "project_root": str(home)}

    response = api.post("/api/projects", body, format="json")

    assert "folder" in assert_error(response, 500)["error"]
    assert not Project.objects.exists()
    assert storage.project_dir("p1").is_file(), "what was there stays"


def test_a_new_project_with_a_home_folder_gets_its_marker_from_a_task_too(
    db: None, api: APIClient, home: Path
) -> None:
    response = task_post(api, "p1", str(home))

    assert response.status_code == 201, response.content
    assert Project.objects.get(id="p1").project_root == str(home)
    marker = storage.project_dir("p1") / "PROJECT-ROOT.txt"
    assert marker.read_text() == f"{home}\n"


@pytest.mark.parametrize("legacy", ["_worktrees", "_audit"])
def test_deleting_a_project_an_older_version_let_in_keeps_conductors_own_folders(
    db: None, api: APIClient, settings: Any, data_dir: Path, legacy: str
) -> None:
    """Such a project's folder was `<data>/_worktrees` (every worktree) or `<data>/_audit`."""
    settings.CONDUCTOR = {**settings.CONDUCTOR, "WORKTREE_ROOT": data_dir / "_worktrees"}
    Project.objects.create(id=legacy)
    worktree = data_dir / "_worktrees" / "other" / "att-1" / "work.txt"
    worktree.parent.mkdir(parents=True)
    worktree.write_text("uncommitted")
    audit = data_dir / "_audit" / "form-submissions.jsonl"
    audit.parent.mkdir()
    audit.write_text("{}\n")

    assert api.delete(f"/api/projects/{legacy}").status_code == 200

    assert worktree.read_text() == "uncommitted"
    assert audit.read_text() == "{}\n"
