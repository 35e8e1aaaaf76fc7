"""GET …/runs/<r>/file?name= and …/tasks/<t>/file?name=TASK.md: raw text for curl and
scripts, `{name, content, modified, size_bytes}` for the web UI."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from conductor_site.http import last_lines
from projects import storage
from projects.models import Project
from runs.models import RunStatus
from tests.helpers import assert_error
from tests.projects.builders import (
    assert_rfc3339_utc,
    finished_task,
    make_run,
    make_task,
)

PROMPT = "seq 1 5; echo warn >&2"


@pytest.fixture
def run_id(work: str, api: APIClient, project: Project) -> str:
    return finished_task(api, "f-real", PROMPT)


def run_file(api: APIClient, run_id: str, **params: Any) -> Any:
    headers = params.pop("headers", {})
    return api.get(f"/api/projects/demo/tasks/f-real/runs/{run_id}/file", params, **headers)


def test_curl_gets_the_raw_text(api: APIClient, run_id: str) -> None:
    response = run_file(api, run_id, name="stdout", headers={"HTTP_ACCEPT": "*/*"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"1\n2\n3\n4\n5\n"


def test_each_run_file_by_name(api: APIClient, run_id: str) -> None:
    assert run_file(api, run_id, name="stderr").content == b"warn\n"
    assert run_file(api, run_id, name="prompt").content.decode() == PROMPT
    assert run_file(api, run_id, name="output.md").status_code == 200


def test_an_explicit_text_accept_is_served(api: APIClient, run_id: str) -> None:
    response = run_file(api, run_id, name="stdout", headers={"HTTP_ACCEPT": "text/plain"})

    assert (response.status_code, response.content) == (200, b"1\n2\n3\n4\n5\n")


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_CONDUCTOR_CLIENT": "web-ui"},
        {"HTTP_ACCEPT": "application/json"},
        {"HTTP_ACCEPT": "application/json, text/plain, */*"},
    ],
)
def test_the_web_ui_gets_json(api: APIClient, run_id: str, headers: dict[str, str]) -> None:
    response = run_file(api, run_id, name="stdout", headers=headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"name", "content", "modified", "size_bytes"}
    assert (body["name"], body["content"], body["size_bytes"]) == ("stdout", "1\n2\n3\n4\n5\n", 10)
    assert_rfc3339_utc(body["modified"])


def test_tail_keeps_the_last_lines(api: APIClient, run_id: str) -> None:
    text = run_file(api, run_id, name="stdout", tail=2)
    body = run_file(
        api, run_id, name="stdout", tail=1500, headers={"HTTP_X_CONDUCTOR_CLIENT": "web-ui"}
    ).json()
    json_tail = run_file(
        api, run_id, name="stdout", tail=1, headers={"HTTP_X_CONDUCTOR_CLIENT": "web-ui"}
    ).json()

    assert text.content == b"4\n5\n"
    assert body["content"] == "1\n2\n3\n4\n5\n"
    assert (json_tail["content"], json_tail["size_bytes"]) == ("5\n", 10)


@pytest.mark.parametrize("name", ["", "run-info.yaml", "../TASK.md", "stdout.txt"])
def test_an_unknown_name_is_400(api: APIClient, run_id: str, name: str) -> None:
    response = run_file(api, run_id, name=name, headers={"HTTP_ACCEPT": "text/plain"})

    error = assert_error(response, 400, "BAD_REQUEST")
    assert "stdout" in error["error"]


def test_a_bad_tail_is_400(api: APIClient, run_id: str) -> None:
    assert_error(run_file(api, run_id, name="stdout", tail="x"), 400, "BAD_REQUEST")


def test_a_file_that_does_not_exist_yet_is_404(db: None, api: APIClient, project: Project) -> None:
    queued = make_run(make_task(project, "f-queued"), RunStatus.QUEUED)
    running = make_run(make_task(project, "f-running"), RunStatus.RUNNING)
    path = "/api/projects/demo/tasks/{}/runs/{}/file"
    waiting = path.format("f-queued", queued.id)
    started = path.format("f-running", running.id)

    assert_error(api.get(waiting, {"name": "stdout"}), 404, "NOT_FOUND")
    assert_error(api.get(started, {"name": "output.md"}), 404, "NOT_FOUND")
    # stdout and stderr exist, empty, from the moment the process starts.
    for name in ("stdout", "stderr"):
        empty = api.get(started, {"name": name})
        assert (empty.status_code, empty.content) == (200, b""), name


def test_unknown_and_invalid_ids(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "f-ids")
    base = "/api/projects/demo/tasks/f-ids"

    assert_error(api.get(f"{base}/runs/run-x/file", {"name": "stdout"}), 404, "NOT_FOUND")
    assert_error(api.get(f"{base}/runs/bad.id/file", {"name": "stdout"}), 400, "BAD_REQUEST")
    assert_error(api.get(f"{base}x/file", {"name": "TASK.md"}), 404, "NOT_FOUND")


def test_task_md_as_text_and_json(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "f-task", prompt="# Fix the bug\n\nDetails.\n")
    path = "/api/projects/demo/tasks/f-task/file"

    text = api.get(path, {"name": "TASK.md"})
    body = api.get(path, {"name": "TASK.md"}, HTTP_X_CONDUCTOR_CLIENT="web-ui").json()

    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert text.content == b"# Fix the bug\n\nDetails.\n"
    assert (body["name"], body["content"]) == ("TASK.md", "# Fix the bug\n\nDetails.\n")
    assert body["size_bytes"] == len(b"# Fix the bug\n\nDetails.\n")
    assert_rfc3339_utc(body["modified"])


def test_task_files_other_than_task_md_are_400(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "f-task2")

    for name in ("", "DONE", "../x"):
        response = api.get("/api/projects/demo/tasks/f-task2/file", {"name": name})
        assert_error(response, 400, "BAD_REQUEST")


def test_a_missing_task_md_is_404(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "f-task3")
    (storage.task_dir("demo", "f-task3") / "TASK.md").unlink()

    response = api.get("/api/projects/demo/tasks/f-task3/file", {"name": "TASK.md"})

    assert_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("a\nb\nc\n", 2, "b\nc\n"),
        ("a\nb\nc", 2, "b\nc"),
        ("a\r\nb\r\n", 1, "b\r\n"),
        ("a\rb\n", 1, "a\rb\n"),
        ("one", 5, "one"),
        ("", 3, ""),
    ],
)
def test_last_lines_counts_newlines(text: str, count: int, expected: str) -> None:
    assert last_lines(text, count) == expected


# Nothing escapes its folder: symlinks an agent plants read as "not there", never the target.

SECRET = "secret-key-value\n"


def test_a_task_md_symlinked_out_is_404(
    db: None, api: APIClient, project: Project, data_dir: Path
) -> None:
    make_task(project, "f-link")
    (data_dir / "secret_key").write_text(SECRET)
    task_md = storage.task_dir("demo", "f-link") / "TASK.md"
    task_md.unlink()
    task_md.symlink_to(data_dir / "secret_key")

    response = api.get("/api/projects/demo/tasks/f-link/file", {"name": "TASK.md"})

    assert_error(response, 404, "NOT_FOUND")
    assert SECRET.encode() not in response.content


def test_a_task_folder_swapped_for_a_symlink_is_404(
    db: None, api: APIClient, project: Project, tmp_path: Path
) -> None:
    make_task(project, "f-swap")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "TASK.md").write_text(SECRET)
    folder = storage.task_dir("demo", "f-swap")
    shutil.rmtree(folder)
    folder.symlink_to(elsewhere)

    response = api.get("/api/projects/demo/tasks/f-swap/file", {"name": "TASK.md"})

    assert_error(response, 404, "NOT_FOUND")


def test_an_output_md_symlinked_out_is_neither_served_nor_listed(
    work: str, api: APIClient, project: Project, data_dir: Path
) -> None:
    (data_dir / "secret_key").write_text(SECRET)
    prompt = f'ln -s {data_dir / "secret_key"} "$CONDUCTOR_RUN_DIR/output.md"'
    run_id = finished_task(api, "f-out", prompt)

    response = api.get(f"/api/projects/demo/tasks/f-out/runs/{run_id}/file", {"name": "output.md"})
    detail = api.get("/api/projects/demo/tasks/f-out").json()

    assert_error(response, 404, "NOT_FOUND")
    assert SECRET.encode() not in response.content
    assert [f["name"] for run in detail["runs"] for f in run["files"]] == [
        "stdout",
        "stderr",
        "prompt",
    ]


def test_a_fifo_as_output_md_is_404_not_a_hang(work: str, api: APIClient, project: Project) -> None:
    run_id = finished_task(api, "f-fifo", 'mkfifo "$CONDUCTOR_RUN_DIR/output.md"')

    response = api.get(f"/api/projects/demo/tasks/f-fifo/runs/{run_id}/file", {"name": "output.md"})

    assert_error(response, 404, "NOT_FOUND")


# The name is a file name from a fixed set, never a path.


@pytest.mark.parametrize("name", ["../other-task/TASK.md", "./TASK.md", "x/TASK.md", "/TASK.md"])
def test_task_file_names_shaped_like_paths_are_400(
    db: None, api: APIClient, project: Project, name: str
) -> None:
    make_task(project, "f-shape")
    make_task(project, "other-task", prompt="the other task's secret")

    response = api.get("/api/projects/demo/tasks/f-shape/file", {"name": name})

    assert_error(response, 400, "BAD_REQUEST")
    assert b"secret" not in response.content


@pytest.mark.parametrize(
    "name", ["../other-run/output.md", "./output.md", "x/output.md", "./stdout", "../../TASK.md"]
)
def test_run_file_names_shaped_like_paths_are_400(api: APIClient, run_id: str, name: str) -> None:
    response = run_file(api, run_id, name=name)

    assert_error(response, 400, "BAD_REQUEST")
