"""GET /api/v1/filesystem/browse, /repositories and /roots: folders and repositories for the
"create project" form, never outside the user's home and the configured roots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.helpers import assert_error, git_cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = (tmp_path / "home").resolve()
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.fixture
def extra(tmp_path: Path, settings: Settings) -> Path:
    folder = (tmp_path / "extra").resolve()
    folder.mkdir()
    settings.CONDUCTOR = {**settings.CONDUCTOR, "BROWSE_ROOTS": [str(folder)]}
    return folder


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git_cli(path, "init", "-q", "-b", "main")
    return path


def browse(api: APIClient, path: Path | str, **params: str) -> dict[str, Any]:
    response = api.get("/api/v1/filesystem/browse", {"path": str(path), **params})
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_roots_are_the_home_then_the_configured_folders(
    db: None, api: APIClient, home: Path, extra: Path
) -> None:
    assert api.get("/api/v1/filesystem/roots").json() == {"roots": [str(home), str(extra)]}


def test_browse_lists_folders_first_then_files_by_name(
    db: None, api: APIClient, home: Path, extra: Path
) -> None:
    make_repo(home / "beta")
    (home / "Alpha").mkdir()
    (home / "a.txt").write_text("x")
    (home / ".secret").mkdir()

    body = browse(api, home)

    assert (body["path"], body["parent_path"], body["total"]) == (str(home), None, 3)
    listed = [(e["name"], e["is_directory"], e["is_git_repo"]) for e in body["items"]]
    assert listed == [("Alpha", True, False), ("beta", True, True), ("a.txt", False, False)]
    assert body["items"][1]["path"] == str(home / "beta")
    assert body["items"][1]["last_modified"].endswith("Z")


def test_browse_defaults_to_home_and_shows_hidden_entries_when_asked(
    db: None, api: APIClient, home: Path, extra: Path
) -> None:
    (home / ".config").mkdir()

    default = api.get("/api/v1/filesystem/browse").json()
    hidden = browse(api, home, hidden="true")

    assert default["path"] == str(home) and default["items"] == []
    assert [entry["name"] for entry in hidden["items"]] == [".config"]


def test_browse_a_subfolder_names_its_parent(
    db: None, api: APIClient, home: Path, extra: Path
) -> None:
    (extra / "code" / "x").mkdir(parents=True)

    body = browse(api, extra / "code")

    assert body["parent_path"] == str(extra)
    assert [entry["name"] for entry in body["items"]] == ["x"]


@pytest.mark.parametrize(
    "path",
    ["/etc", "/", "relative/path", "~", "{home}/../..", "{home}/../extra/../../etc", ""],
)
def test_paths_outside_the_roots_are_400(
    db: None, api: APIClient, home: Path, extra: Path, path: str
) -> None:
    value = path.format(home=home) or "   "

    for route in ("browse", "repositories"):
        response = api.get(f"/api/v1/filesystem/{route}", {"path": value})
        error = assert_error(response, 400, "BAD_REQUEST")
        assert "/etc" not in str(error["details"].get("roots", ""))


def test_a_nul_in_the_path_is_400(db: None, api: APIClient, home: Path) -> None:
    assert_error(api.get("/api/v1/filesystem/browse?path=%2Ftmp%00x"), 400, "BAD_REQUEST")
    assert_error(api.get("/api/v1/filesystem/browse", {"path": f"{home}\0"}), 400, "BAD_REQUEST")


def test_a_symlink_out_of_the_roots_is_never_followed(
    db: None, api: APIClient, home: Path, extra: Path
) -> None:
    (home / "etc-link").symlink_to("/etc")
    (home / "inside").mkdir()
    (home / "inside-link").symlink_to(home / "inside")

    listed = {entry["name"]: entry for entry in browse(api, home)["items"]}
    assert_error(
        api.get("/api/v1/filesystem/browse", {"path": str(home / "etc-link")}), 400, "BAD_REQUEST"
    )
    assert_error(
        api.get("/api/v1/filesystem/repositories", {"path": str(home / "etc-link")}),
        400,
        "BAD_REQUEST",
    )
    assert assert_error(
        api.get("/api/v1/filesystem/browse", {"path": str(home / "etc-link" / "passwd")}),
        400,
        "BAD_REQUEST",
    )
    assert (listed["etc-link"]["is_symlink"], listed["etc-link"]["is_directory"]) == (True, False)
    assert (listed["inside-link"]["is_symlink"], listed["inside-link"]["is_directory"]) == (
        True,
        True,
    )
    assert browse(api, home / "inside-link")["path"] == str(home / "inside")


def test_a_missing_folder_inside_the_roots_is_404_and_a_file_400(
    db: None, api: APIClient, home: Path
) -> None:
    (home / "file.txt").write_text("x")

    assert_error(
        api.get("/api/v1/filesystem/browse", {"path": str(home / "gone")}), 404, "NOT_FOUND"
    )
    assert_error(
        api.get("/api/v1/filesystem/browse", {"path": str(home / "file.txt")}), 400, "BAD_REQUEST"
    )


def test_an_unreadable_folder_is_400(db: None, api: APIClient, home: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    locked = home / "locked"
    locked.mkdir(mode=0o000)
    try:
        assert_error(
            api.get("/api/v1/filesystem/browse", {"path": str(locked)}), 400, "BAD_REQUEST"
        )
    finally:
        locked.chmod(0o755)


# Discovering repositories.


def repositories(api: APIClient, path: Path, **params: str) -> tuple[list[str], bool]:
    response = api.get("/api/v1/filesystem/repositories", {"path": str(path), **params})
    assert response.status_code == 200, response.content
    body = response.json()
    return [entry["path"] for entry in body["repositories"]], body["truncated"]


def test_it_finds_repositories_and_skips_heavy_hidden_and_nested_ones(
    db: None, api: APIClient, home: Path
) -> None:
    one = make_repo(home / "code" / "one")
    two = make_repo(home / "code" / "group" / "two")
    make_repo(one / "vendor-nested")
    make_repo(home / "code" / "node_modules" / "pkg")
    make_repo(home / ".venv" / "lib")
    make_repo(home / ".hidden" / "repo")
    worktree = home / "code" / "wt"
    git_cli(
        one,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
    )
    git_cli(one, "worktree", "add", "-q", str(worktree))

    found, truncated = repositories(api, home)

    assert found == [str(two), str(one), str(worktree)]
    assert truncated is False


def test_the_depth_and_the_limit_bound_the_search(db: None, api: APIClient, home: Path) -> None:
    deep = make_repo(home / "a" / "b" / "c" / "deep")
    shallow = make_repo(home / "shallow")
    for number in range(3):
        make_repo(home / "many" / f"r{number}")

    assert repositories(api, home, depth="2") == (
        [str(home / "many" / f"r{n}") for n in range(3)] + [str(shallow)],
        True,
    )
    assert str(deep) in repositories(api, home, depth="4")[0]
    found, truncated = repositories(api, home, limit="2")
    assert len(found) == 2 and truncated is True


def test_the_search_never_follows_a_symlink(
    db: None, api: APIClient, home: Path, tmp_path: Path
) -> None:
    outside = make_repo(tmp_path / "outside" / "secret-repo")
    (home / "link").symlink_to(outside.parent)
    (home / "loop").symlink_to(home)

    assert repositories(api, home) == ([], False)


def test_a_repository_as_the_folder_itself_is_found_and_searched(
    db: None, api: APIClient, home: Path
) -> None:
    git_cli(home, "init", "-q")
    inner = make_repo(home / "projects" / "inner")

    assert repositories(api, home)[0] == [str(home), str(inner)]


@pytest.mark.parametrize("params", [{"depth": "-1"}, {"depth": "x"}, {"limit": "0"}])
def test_bad_bounds_are_400(db: None, api: APIClient, home: Path, params: dict[str, str]) -> None:
    response = api.get("/api/v1/filesystem/repositories", {"path": str(home), **params})

    assert_error(response, 400, "BAD_REQUEST")
