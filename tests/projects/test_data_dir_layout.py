"""Users' data under `<data>/projects/<id>/`, apart from Conductor's own entries; a data dir of
the old layout (`<data>/<id>/`) moves on start. Real `conductor serve` processes."""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.conftest import wait_for
from tests.processes import Server


def task(server: Server, project_id: str, task_id: str, prompt: str) -> dict[str, Any]:
    body = {"project_id": project_id, "task_id": task_id, "agent_type": "shell", "prompt": prompt}
    status, created = server.request("POST", "/api/v1/tasks", body)
    assert status == 201, created
    wait_for(
        lambda: (
            server.request("GET", f"/api/v1/runs/{created['run_id']}")[1]["status"] == "success"
        ),
        60,
        f"task {task_id} to succeed",
    )
    return created


def get_status(server: Server, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return error.code


def to_old_layout(data: Path, project_ids: list[str]) -> None:
    """What an earlier Conductor left: `<data>/<id>/`, runs' cwd pointing there, and a
    `static/` folder (its static root) that a project named `static` shared."""
    projects = data / "projects"
    (projects / ".conductor-projects").unlink()
    for project_id in project_ids:
        (projects / project_id).rename(data / f"{project_id}.moving")
    projects.rmdir()
    for project_id in project_ids:
        (data / f"{project_id}.moving").rename(data / project_id)
    with sqlite3.connect(data / "conductor.sqlite3") as db:
        for project_id in project_ids:
            db.execute(
                "UPDATE runs_run SET cwd = replace(cwd, ?, ?)",
                [str(projects / project_id), str(data / project_id)],
            )


def test_an_old_data_dir_moves_into_projects_once_and_keeps_conductors_own(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        runs = {
            pid: task(server, pid, "t1", "echo made > here.txt") for pid in ("demo", "projects")
        }
    finally:
        server.terminate()
    to_old_layout(data, ["demo", "projects"])
    (data / "static").mkdir()  # the old static root, always empty
    (data / "_audit").mkdir(exist_ok=True)
    (data / "_audit" / "form-submissions.jsonl").write_text("{}\n")
    assert (data / "projects" / "t1" / "here.txt").is_file(), "the old folder of `projects`"

    for attempt in range(2):  # the second start finds nothing left to move
        restarted = Server(data, tmp_path / f"restart{attempt}.log")
        try:
            for project_id, created in runs.items():
                folder = data / "projects" / project_id / "t1"
                assert (folder / "here.txt").read_text() == "made\n"
                assert (folder / "TASK.md").read_text() == "echo made > here.txt"
                run_path = f"/api/projects/{project_id}/tasks/t1/runs/{created['run_id']}"
                assert restarted.request("GET", run_path)[1]["cwd"] == str(folder)
                assert get_status(restarted, f"{run_path}/file?name=prompt") == 200
                path = f"/api/projects/{project_id}/tasks/t1/file?name=TASK.md"
                assert get_status(restarted, path) == 200
            assert not (data / "demo").exists() and not (data / "static").exists()
            assert (data / "_audit" / "form-submissions.jsonl").read_text() == "{}\n"
            assert (data / "secret_key").is_file() and (data / "conductor.sqlite3").is_file()
        finally:
            restarted.terminate()
    assert "moved" in (tmp_path / "restart0.log").read_text()


def test_a_project_named_static_is_never_served_as_static_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    try:
        task(server, "static", "t1", "echo secret > output.md")
    finally:
        server.terminate()

    restarted = Server(data, tmp_path / "restart.log")
    try:
        for path in ("t1/TASK.md", "projects/static/t1/TASK.md", "static/t1/TASK.md"):
            assert get_status(restarted, f"/static/{path}") == 404, path
        assert get_status(restarted, "/static/admin/css/base.css") == 200
    finally:
        restarted.terminate()


def test_no_static_root_inside_the_data_dir() -> None:
    root = settings.STATIC_ROOT
    data = Path(settings.DATA_DIR).resolve()
    assert root is None or data not in [Path(root).resolve(), *Path(root).resolve().parents]
