"""The Ralph loop: a task with `config.loop` restarts until the agent writes `DONE`."""

from __future__ import annotations

from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import Run
from tasks.models import Task
from tasks.services import task_resume_loop
from tests.conftest import create_task, wait_for

COUNT_TO_THREE = (
    'n=$(cat "$CONDUCTOR_TASK_DIR/count" 2>/dev/null || echo 0); n=$((n+1)); '
    'echo $n > "$CONDUCTOR_TASK_DIR/count"; echo "iteration $n"; '
    '[ $n -ge 3 ] && touch "$CONDUCTOR_TASK_DIR/DONE"; true'
)


def agent_runs(task_id: str) -> list[Run]:
    return list(
        Run.objects.filter(attempt__task__task_id=task_id, kind="agent").order_by("created_at")
    )


def status(api: APIClient, task_id: str = "t1") -> str:
    return api.get(f"/api/v1/tasks/{task_id}?project_id=demo").json()["status"]


def test_the_loop_restarts_until_done(work: str, api: APIClient, project: Project) -> None:
    create_task(api, prompt=COUNT_TO_THREE, config={"loop": {"max_iterations": 10}})

    wait_for(lambda: status(api) == "completed", what="the loop to reach DONE")

    runs = agent_runs("t1")
    assert [r.status for r in runs] == ["success"] * 3
    assert len({r.attempt_id for r in runs}) == 1, "every iteration works in the same worktree"
    assert (storage.task_dir("demo", "t1") / "DONE").exists()
    assert runs[-1].previous_run_id is None, "each iteration starts a fresh agent session"


def test_the_loop_stops_at_its_iteration_bound(work: str, api: APIClient, project: Project) -> None:
    create_task(api, prompt="echo again", config={"loop": {"max_iterations": 2}})

    wait_for(
        lambda: len(agent_runs("t1")) == 2 and agent_runs("t1")[-1].status == "success",
        what="two iterations",
    )

    wait_for(lambda: status(api) == "idle", what="the loop to end without DONE")
    assert len(agent_runs("t1")) == 2


def test_resume_after_removing_done_starts_the_loop_again(
    work: str, api: APIClient, project: Project
) -> None:
    create_task(api, prompt=COUNT_TO_THREE, config={"loop": {"max_iterations": 10}})
    wait_for(lambda: status(api) == "completed", what="the first DONE")

    (storage.task_dir("demo", "t1") / "DONE").unlink()
    task_resume_loop(Task.objects.get(task_id="t1"))

    wait_for(
        lambda: len(agent_runs("t1")) == 4 and status(api) == "completed",
        what="one more iteration writing DONE again",
    )
