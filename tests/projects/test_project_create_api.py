"""POST /api/projects: a project with its home folder, and the checks on that folder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from projects.models import Project
from tests.helpers import assert_error


def post(api: APIClient, body: Any) -> Any:
    return api.post("/api/projects", body, format="json")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder.resolve()


def test_it_creates_a_project_and_its_root_marker(db: None, api: APIClient, home: Path) -> None:
    response = post(api, {"project_id": "created-1", "project_root": str(home)})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "last_activity", "task_count", "project_root"}
    assert (body["id"], body["task_count"], body["project_root"]) == ("created-1", 0, str(home))
    assert body["last_activity"].endswith("Z")
    datetime.fromisoformat(body["last_activity"].removesuffix("Z") + "+00:00")
    marker = Path(settings.DATA_DIR) / "projects" / "created-1" / "PROJECT-ROOT.txt"
    assert marker.read_text().strip() == str(home)
    assert Project.objects.get(id="created-1").project_root == str(home)


def test_a_relative_path_is_400(db: None, api: APIClient) -> None:
    error = assert_error(
        post(api, {"project_id": "p1", "project_root": "some/dir"}), 400, "BAD_REQUEST"
    )

    assert "project_root" in error["details"]["fields"]
    assert "absolute" in error["error"]
    assert not Project.objects.exists()


def test_a_tilde_path_is_not_expanded_and_is_400(db: None, api: APIClient) -> None:
    assert Path("~").expanduser().is_dir(), "the home folder exists, so only expansion matters"

    error = assert_error(post(api, {"project_id": "p1", "project_root": "~"}), 400, "BAD_REQUEST")
    assert "project_root" in error["details"]["fields"]
    assert_error(post(api, {"project_id": "p1", "project_root": "~/x"}), 400, "BAD_REQUEST")
    assert not Project.objects.exists()


def test_a_missing_directory_is_400(db: None, api: APIClient, tmp_path: Path) -> None:
    missing = tmp_path / "not-there"

    error = assert_error(
        post(api, {"project_id": "p1", "project_root": str(missing)}), 400, "BAD_REQUEST"
    )

    assert "project_root" in error["details"]["fields"]
    assert not Project.objects.exists()


def test_a_file_is_400(db: None, api: APIClient, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("not a folder\n")

    error = assert_error(
        post(api, {"project_id": "p1", "project_root": str(file)}), 400, "BAD_REQUEST"
    )

    assert "project_root" in error["details"]["fields"]
    assert not Project.objects.exists()


def test_a_path_inside_the_data_dir_is_400(db: None, api: APIClient) -> None:
    inside = Path(settings.DATA_DIR) / "inside-for-test"
    inside.mkdir(exist_ok=True)

    for root in (inside, Path(settings.DATA_DIR)):
        error = assert_error(
            post(api, {"project_id": "p1", "project_root": str(root)}), 400, "BAD_REQUEST"
        )
        assert "data dir" in error["error"]
    assert not Project.objects.exists()


def test_a_symlink_into_the_data_dir_is_400(db: None, api: APIClient, tmp_path: Path) -> None:
    inside = Path(settings.DATA_DIR) / "inside-via-link"
    inside.mkdir(exist_ok=True)
    link = tmp_path / "sneaky"
    link.symlink_to(inside, target_is_directory=True)

    assert_error(post(api, {"project_id": "p1", "project_root": str(link)}), 400, "BAD_REQUEST")
    assert not Project.objects.exists()


def test_a_missing_project_root_is_400(db: None, api: APIClient) -> None:
    error = assert_error(post(api, {"project_id": "p1"}), 400, "BAD_REQUEST")

    assert "project_root" in error["details"]["fields"]
    assert not Project.objects.exists()


def test_a_missing_project_id_is_400(db: None, api: APIClient, home: Path) -> None:
    error = assert_error(post(api, {"project_root": str(home)}), 400, "BAD_REQUEST")

    assert "project_id" in error["details"]["fields"]


@pytest.mark.parametrize("bad", ["a b", "a/b", "..", "a.b", "é", "x" * 129, "", "_audit"])
def test_an_invalid_or_reserved_id_is_400(db: None, api: APIClient, home: Path, bad: str) -> None:
    error = assert_error(
        post(api, {"project_id": bad, "project_root": str(home)}), 400, "BAD_REQUEST"
    )

    assert "project_id" in error["details"]["fields"]
    assert not Project.objects.exists()


def test_an_id_with_a_trailing_newline_is_400(db: None, api: APIClient, home: Path) -> None:
    response = post(api, {"project_id": "p1\n", "project_root": str(home)})

    assert_error(response, 400, "BAD_REQUEST")
    assert not Project.objects.exists()


def test_a_reserved_id_says_it_is_reserved(db: None, api: APIClient, home: Path) -> None:
    error = assert_error(
        post(api, {"project_id": "_worktrees", "project_root": str(home)}), 400, "BAD_REQUEST"
    )

    assert "reserved" in error["error"]


def test_a_json_array_body_is_400(db: None, api: APIClient, home: Path) -> None:
    assert_error(post(api, [{"project_id": "p1", "project_root": str(home)}]), 400, "BAD_REQUEST")


def test_a_duplicate_project_is_409(db: None, api: APIClient, home: Path, tmp_path: Path) -> None:
    assert post(api, {"project_id": "dup", "project_root": str(home)}).status_code == 201
    other = tmp_path / "other"
    other.mkdir()

    error = assert_error(
        post(api, {"project_id": "dup", "project_root": str(other)}), 409, "CONFLICT"
    )

    assert "dup" in error["error"]
    assert Project.objects.get(id="dup").project_root == str(home)


def test_a_symlink_to_a_directory_is_resolved(
    db: None, api: APIClient, home: Path, tmp_path: Path
) -> None:
    link = tmp_path / "link-to-home"
    link.symlink_to(home, target_is_directory=True)

    response = post(api, {"project_id": "linked", "project_root": str(link)})

    assert response.status_code == 201, response.content
    assert response.json()["project_root"] == str(home)
    assert Project.objects.get(id="linked").project_root == str(home)


def test_a_git_repository_is_not_required(db: None, api: APIClient, home: Path) -> None:
    assert not (home / ".git").exists()

    assert post(api, {"project_id": "plain-dir", "project_root": str(home)}).status_code == 201


def test_the_extra_fields_are_stored(db: None, api: APIClient, home: Path) -> None:
    body = {
        "project_id": "full",
        "project_root": str(home),
        "setup_script": "npm ci\n",
        "cleanup_script": "rm -rf tmp\n",
        "default_branch": "develop",
        "copy_files": [".env", "config/*.local"],
        "env": {"NODE_ENV": "test", "FOO": "bar"},
    }

    response = post(api, body)

    assert response.status_code == 201, response.content
    project = Project.objects.get(id="full")
    assert project.setup_script == "npm ci\n"
    assert project.cleanup_script == "rm -rf tmp\n"
    assert project.default_branch == "develop"
    assert project.copy_files == [".env", "config/*.local"]
    assert project.env == {"NODE_ENV": "test", "FOO": "bar"}
