"""POST /api/projects/<p>/tasks/<t>/resume: remove DONE, start the Ralph loop again."""

from __future__ import annotations

import shutil
from pathlib import Path

from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import Run
from tests.conftest import create_task, wait_for
from tests.helpers import assert_error
from tests.projects.builders import make_task

# Writes DONE on its second iteration of each round (the count file is reset by the test).
COUNT_TO_TWO = (
    'n=$(cat "$CONDUCTOR_TASK_DIR/count" 2>/dev/null || echo 0); n=$((n+1)); '
    'echo $n > "$CONDUCTOR_TASK_DIR/count"; echo "iteration $n"; '
    '[ $n -ge 2 ] && touch "$CONDUCTOR_TASK_DIR/DONE"; true'
)


def status(api: APIClient, task_id: str) -> str:
    return api.get(f"/api/projects/demo/tasks/{task_id}").json()["status"]


def agent_run_count(task_id: str) -> int:
    return Run.objects.filter(attempt__task__task_id=task_id, kind="agent").count()


def test_resume_removes_done_and_restarts_the_loop(
    work: str, api: APIClient, project: Project
) -> None:
    folder = storage.task_dir("demo", "res-loop")
    (folder / "count").unlink(missing_ok=True)
    create_task(
        api, task_id="res-loop", prompt=COUNT_TO_TWO, config={"loop": {"max_iterations": 10}}
    )
    wait_for(lambda: status(api, "res-loop") == "completed", what="the loop to reach DONE")
    assert api.get("/api/projects/demo/tasks/res-loop").json()["done"] is True
    (folder / "count").write_text("0\n")

    response = api.post("/api/projects/demo/tasks/res-loop/resume")

    assert response.status_code == 200, response.content
    assert response.json() == {"project_id": "demo", "task_id": "res-loop", "resumed": True}
    wait_for(lambda: agent_run_count("res-loop") == 4, what="two more iterations")
    wait_for(lambda: status(api, "res-loop") == "completed", what="DONE again")


def test_resume_of_a_task_without_a_loop_only_removes_done(
    db: None, api: APIClient, project: Project
) -> None:
    make_task(project, "res-plain")
    done = storage.task_dir("demo", "res-plain") / "DONE"
    done.touch()

    response = api.post("/api/projects/demo/tasks/res-plain/resume")

    assert response.status_code == 200, response.content
    assert not done.exists()
    assert agent_run_count("res-plain") == 0


def test_without_done_it_is_400(db: None, api: APIClient, project: Project) -> None:
    make_task(project, "res-none")

    error = assert_error(api.post("/api/projects/demo/tasks/res-none/resume"), 400, "BAD_REQUEST")

    assert "DONE" in error["error"]


def test_unknown_and_invalid_ids(db: None, api: APIClient, project: Project) -> None:
    assert_error(api.post("/api/projects/demo/tasks/nope/resume"), 404, "NOT_FOUND")
    assert_error(api.post("/api/projects/ghost/tasks/nope/resume"), 404, "NOT_FOUND")
    assert_error(api.post("/api/projects/demo/tasks/bad.id/resume"), 400, "BAD_REQUEST")


def test_a_done_reached_through_a_symlinked_task_folder_is_not_removed(
    db: None, api: APIClient, project: Project, tmp_path: Path
) -> None:
    make_task(project, "r-link")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "DONE").write_text("the user's\n")
    folder = storage.task_dir("demo", "r-link")
    shutil.rmtree(folder)
    folder.symlink_to(elsewhere)

    response = api.post("/api/projects/demo/tasks/r-link/resume")

    assert_error(response, 400, "BAD_REQUEST")
    assert (elsewhere / "DONE").read_text() == "the user's\n"
