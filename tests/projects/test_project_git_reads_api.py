"""GET /api/v1/projects/<id>/branches and /search: reads of a project's real repository."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from tests.helpers import assert_error, git_cli, worktree_state


def branch_names(api: APIClient, project_id: str = "demo") -> list[tuple[str, bool, bool]]:
    response = api.get(f"/api/v1/projects/{project_id}/branches")
    assert response.status_code == 200, response.content
    return [(b["name"], b["is_remote"], b["is_current"]) for b in response.json()["items"]]


def test_branches_lists_local_then_remote_and_the_current_one(
    project: Project, api: APIClient, git_repo: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    git_cli(tmp_path, "clone", "-q", "--bare", str(git_repo), str(remote))
    git_cli(git_repo, "remote", "add", "origin", str(remote))
    git_cli(git_repo, "fetch", "-q", "origin")
    git_cli(git_repo, "remote", "set-head", "origin", "main")
    git_cli(git_repo, "branch", "--end-of-options", "feature/x")
    git_cli(git_repo, "checkout", "-q", "feature/x")

    assert branch_names(api) == [
        ("feature/x", False, True),
        ("main", False, False),
        ("origin/main", True, False),
    ]


def test_a_branch_carries_its_last_commit_date_in_utc(
    project: Project, api: APIClient, git_repo: Path
) -> None:
    git_cli(git_repo, "checkout", "-q", "-b", "dated")
    subprocess.run(
        ["git", "-C", str(git_repo), "commit", "-q", "--allow-empty", "-m", "dated"],
        check=True,
        env={**os.environ, "GIT_COMMITTER_DATE": "2024-03-05T10:11:12+02:00"},
    )

    items = api.get("/api/v1/projects/demo/branches").json()["items"]

    dated = next(item for item in items if item["name"] == "dated")
    assert dated["last_commit_date"] == "2024-03-05T08:11:12Z"
    assert datetime.fromisoformat(dated["last_commit_date"]).tzinfo == UTC


def test_branches_page(project: Project, api: APIClient, git_repo: Path) -> None:
    for number in range(5):
        git_cli(git_repo, "branch", f"b{number}")

    page = api.get("/api/v1/projects/demo/branches?limit=2&offset=1").json()

    assert [item["name"] for item in page["items"]] == ["b1", "b2"]
    assert (page["total"], page["limit"], page["offset"], page["has_more"]) == (6, 2, 1, True)


def test_reading_branches_leaves_the_repository_as_it_was(
    project: Project, api: APIClient, git_repo: Path
) -> None:
    (git_repo / "README.md").write_text("dirty\n")
    (git_repo / "new.txt").write_text("untracked\n")
    before = worktree_state(git_repo)

    assert api.get("/api/v1/projects/demo/branches").status_code == 200
    assert api.get("/api/v1/projects/demo/search?q=read").status_code == 200

    assert worktree_state(git_repo) == before


def test_a_project_without_a_repository_is_409(db: None, api: APIClient, tmp_path: Path) -> None:
    Project.objects.create(id="plain", project_root=str(tmp_path))

    assert_error(api.get("/api/v1/projects/plain/branches"), 409, "CONFLICT")
    assert_error(api.get("/api/v1/projects/plain/search?q=a"), 409, "CONFLICT")


@pytest.mark.parametrize("project_id", ["nope", "a.b", "%2E%2E", "-x%20y"])
def test_unknown_or_invalid_ids_are_404_or_400(db: None, api: APIClient, project_id: str) -> None:
    response = api.get(f"/api/v1/projects/{project_id}/branches")

    codes = {400: "BAD_REQUEST", 404: "NOT_FOUND"}
    assert response.status_code in codes
    assert_error(response, response.status_code, codes[response.status_code])


def test_the_project_itself_reads_in_house_style(project: Project, api: APIClient) -> None:
    body = api.get("/api/v1/projects/demo").json()

    assert (body["id"], body["has_repository"]) == ("demo", True)


# File search.


@pytest.fixture
def files(project: Project, git_repo: Path) -> Path:
    for name in [
        "src/app.py",
        "src/apply/README.md",
        "docs/app.md",
        "lib/zapper.py",
        "APP.PY",
        "build/app.py",
    ]:
        (git_repo / name).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / name).write_text("app inside the contents\n")
    (git_repo / ".gitignore").write_text("build/\n")
    git_cli(git_repo, "add", "src", "docs", ".gitignore")
    git_cli(git_repo, "commit", "-qm", "files")
    return git_repo


def search(api: APIClient, query: str, **params: str) -> list[tuple[str, str]]:
    response = api.get("/api/v1/projects/demo/search", {"q": query, **params})
    assert response.status_code == 200, response.content
    return [(item["path"], item["match"]) for item in response.json()["items"]]


def test_search_ranks_exact_name_then_prefix_then_name_then_path(
    files: Path, api: APIClient
) -> None:
    assert search(api, "app.py") == [
        ("APP.PY", "name"),
        ("src/app.py", "name"),
    ]
    assert search(api, "App") == [
        ("APP.PY", "name_prefix"),
        ("docs/app.md", "name_prefix"),
        ("src/app.py", "name_prefix"),
        ("lib/zapper.py", "name_contains"),
        ("src/apply/README.md", "path_contains"),
    ]


def test_search_includes_untracked_files_but_not_ignored_ones(files: Path, api: APIClient) -> None:
    paths = [path for path, _ in search(api, "app")]

    assert "APP.PY" in paths and "lib/zapper.py" in paths  # untracked
    assert "build/app.py" not in paths  # ignored


def test_search_never_matches_contents(files: Path, api: APIClient) -> None:
    assert search(api, "inside") == []


def test_search_pages(files: Path, api: APIClient) -> None:
    page = api.get("/api/v1/projects/demo/search", {"q": "app", "limit": "2"}).json()

    assert [item["path"] for item in page["items"]] == ["APP.PY", "docs/app.md"]
    assert (page["total"], page["has_more"]) == (5, True)


@pytest.mark.parametrize("query", ["", "   ", "x" * 201])
def test_a_missing_or_long_query_is_400(files: Path, api: APIClient, query: str) -> None:
    assert_error(api.get("/api/v1/projects/demo/search", {"q": query}), 400, "BAD_REQUEST")


def test_option_like_queries_are_only_text(files: Path, api: APIClient) -> None:
    assert search(api, "--others") == []
    assert search(api, "*") == []
