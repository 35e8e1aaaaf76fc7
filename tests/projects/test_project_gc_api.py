"""POST /api/projects/<p>/gc?older_than=&dry_run=&keep_failed=: old finished runs go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project
from runs.files import run_folder
from runs.models import LogChunk, Run, RunStatus
from tests.helpers import assert_error
from tests.projects.builders import BROWSER_CONTEXTS, make_run, make_task

WEEK = timedelta(days=7)


def gc(api: APIClient, query: str = "", **headers: Any) -> Any:
    return api.post(f"/api/projects/demo/gc{query}", **headers)


def with_folder(run: Run) -> Run:
    folder = run_folder(Run.objects.select_related("attempt__task").get(id=run.id))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "output.md").write_text("x" * 50)
    return run


@pytest.fixture
def runs(db: None, project: Project) -> dict[str, Run]:
    task = make_task(project, "gc-task")
    return {
        "old_success": with_folder(make_run(task, age=WEEK * 2, stdout="a" * 10)),
        "old_failed": make_run(task, RunStatus.FAILED, age=WEEK * 2),
        "old_crashed": make_run(task, RunStatus.CRASHED, age=WEEK * 2),
        "old_stopped": make_run(task, RunStatus.STOPPED, age=WEEK * 2),
        "recent": make_run(task, age=timedelta(hours=1)),
        "running": make_run(task, RunStatus.RUNNING, age=WEEK * 2),
    }


def remaining(runs: dict[str, Run]) -> set[str]:
    ids = set(Run.objects.values_list("id", flat=True))
    return {name for name, run in runs.items() if run.id in ids}


def test_the_default_deletes_runs_that_ended_over_a_week_ago(
    api: APIClient, runs: dict[str, Run]
) -> None:
    folder = run_folder(Run.objects.select_related("attempt__task").get(id=runs["old_success"].id))

    response = gc(api)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["deleted_runs"], body["dry_run"]) == (4, False)
    assert body["freed_bytes"] == 50 + 10
    assert remaining(runs) == {"recent", "running"}
    assert not folder.exists()
    assert not LogChunk.objects.filter(run_id=runs["old_success"].id).exists()


def test_a_dry_run_deletes_nothing(api: APIClient, runs: dict[str, Run]) -> None:
    body = gc(api, "?dry_run=true").json()

    assert (body["deleted_runs"], body["freed_bytes"], body["dry_run"]) == (4, 60, True)
    assert remaining(runs) == set(runs)


def test_keep_failed_keeps_failed_and_crashed_runs(api: APIClient, runs: dict[str, Run]) -> None:
    body = gc(api, "?keep_failed=true&dry_run=false").json()

    assert body["deleted_runs"] == 2
    assert remaining(runs) == {"old_failed", "old_crashed", "recent", "running"}


def test_older_than_takes_a_go_duration(api: APIClient, runs: dict[str, Run]) -> None:
    assert gc(api, "?older_than=30m").json()["deleted_runs"] == 5
    assert remaining(runs) == {"running"}


@pytest.mark.parametrize(
    "query", ["?older_than=7", "?older_than=abc", "?older_than=-1h", "?dry_run=2"]
)
def test_bad_parameters_are_400(api: APIClient, runs: dict[str, Run], query: str) -> None:
    assert_error(gc(api, query), 400, "BAD_REQUEST")
    assert remaining(runs) == set(runs)


@pytest.mark.parametrize(
    "duration", ["99999999999999999999h", "1" + "0" * 400 + "s", "876001h", "36501d"]
)
def test_a_duration_past_the_bound_is_400_with_the_range(
    api: APIClient, runs: dict[str, Run], duration: str
) -> None:
    body = assert_error(gc(api, f"?older_than={duration}"), 400, "BAD_REQUEST")

    assert "between 0 and 876000h" in body["error"]
    assert remaining(runs) == set(runs)


def test_the_longest_duration_is_accepted(api: APIClient, runs: dict[str, Run]) -> None:
    assert gc(api, "?older_than=876000h").json()["deleted_runs"] == 0


@pytest.mark.parametrize("context", BROWSER_CONTEXTS)
def test_a_browser_cannot_collect(api: APIClient, runs: dict[str, Run], context: str) -> None:
    assert_error(gc(api, **BROWSER_CONTEXTS[context]), 403, "FORBIDDEN")
    assert remaining(runs) == set(runs)


def test_unknown_and_invalid_projects(db: None, api: APIClient) -> None:
    assert_error(api.post("/api/projects/nope/gc"), 404, "NOT_FOUND")
    assert_error(api.post("/api/projects/bad.id/gc"), 400, "BAD_REQUEST")
