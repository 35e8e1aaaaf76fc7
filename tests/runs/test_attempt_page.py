"""The attempt page and the routes its script calls: the selected run, the stored log at
once, the log download, stop; each id and parameter checked."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from projects.models import Project
from runs.models import Attempt, Run, RunStatus
from tests.helpers import assert_error
from tests.projects.builders import make_run, make_task


@pytest.fixture
def run(project: Project) -> Run:
    return make_run(make_task(project, "t1"), stdout="\x1b[31mred\x1b[0m\ntwo\n")


def test_the_latest_agent_run_is_shown_unless_another_is_asked_for(
    client: Client, run: Run
) -> None:
    setup = make_run(run.attempt.task, kind=Run.Kind.SETUP, attempt=run.attempt)

    page = client.get(f"/ui/attempts/{run.attempt_id}/").content.decode()
    chosen = client.get(f"/ui/attempts/{run.attempt_id}/?run={setup.id}").content.decode()

    assert f'<section id="run" data-run="{run.id}"' in page
    assert f"/ui/attempts/{run.attempt_id}/review/" in page
    assert 'aria-selected="true">Raw log' in page  # a shell agent's output is its log
    assert f'<section id="run" data-run="{setup.id}"' in chosen


def test_dropped_runs_are_hidden_behind_a_toggle_and_only_kept_agent_runs_offer_retry(
    client: Client, run: Run
) -> None:
    dropped = make_run(run.attempt.task, attempt=run.attempt)
    setup = make_run(run.attempt.task, kind=Run.Kind.SETUP, attempt=run.attempt)
    Run.objects.filter(id=dropped.id).update(dropped_at=timezone.now())
    Attempt.objects.filter(id=run.attempt_id).update(
        worktree_path="/tmp/wt", worktree_disk_bytes=20480
    )

    page = client.get(f"/ui/attempts/{run.attempt_id}/?run={run.id}").content.decode()
    opened = client.get(f"/ui/attempts/{run.attempt_id}/?run={dropped.id}").content.decode()

    assert f'data-retry="{run.id}"' in page
    assert f'data-retry="{dropped.id}"' not in page and f'data-retry="{setup.id}"' not in page
    assert '<span class="run-item dropped" hidden>' in page
    assert "Show dropped (1)" in page
    assert '<span class="run-item dropped" hidden>' not in opened  # the one opened shows
    assert '<dd id="disk-use">20.0\xa0KB</dd>' in page
    assert 'data-api="/ui/api/v1/attempts/' in page


def test_unknown_or_foreign_ids_are_the_404_page(
    client: Client, run: Run, project: Project
) -> None:
    other = make_run(make_task(project, "t2"))
    for path in [
        "/ui/attempts/ghost/",
        f"/ui/attempts/{run.attempt_id}/?run={other.id}",
        f"/ui/attempts/{run.attempt_id}/?run=../x",
        "/ui/attempts/a.b/",
        "/ui/runs/ghost/log/stdout/",
    ]:
        assert client.get(path).status_code == 404, path


def test_what_the_pages_script_reads_is_refused_in_the_error_shape(
    db: None, client: Client
) -> None:
    assert_error(client.get("/ui/runs/ghost/lines/"), 404, "NOT_FOUND")
    assert_error(client.get("/ui/runs/a.b/lines/"), 400, "BAD_REQUEST")


def test_the_stored_log_comes_at_once_with_the_cursor_to_follow_from(
    client: Client, run: Run
) -> None:
    answer = client.get(f"/ui/runs/{run.id}/lines/").json()

    assert answer == {"lines": ["\x1b[31mred\x1b[0m", "two"], "cursor": "1:1"}


def test_a_run_without_lines_has_no_cursor(client: Client, project: Project) -> None:
    quiet = make_run(make_task(project, "t2"), RunStatus.RUNNING)

    assert client.get(f"/ui/runs/{quiet.id}/lines/").json() == {"lines": [], "cursor": ""}


def test_the_log_downloads_as_a_file(client: Client, run: Run) -> None:
    response = client.get(f"/ui/runs/{run.id}/log/stdout/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{run.id}-stdout.log"'
    assert response.content.decode() == "\x1b[31mred\x1b[0m\ntwo\n"
    assert client.get(f"/ui/runs/{run.id}/log/stderr/").content == b""
    assert_error(client.get(f"/ui/runs/{run.id}/log/prompt/"), 400, "BAD_REQUEST")


def test_stop_stops_an_attempt_that_has_not_started(client: Client, project: Project) -> None:
    queued = make_run(make_task(project, "t2"), RunStatus.QUEUED)

    response = client.post(f"/ui/attempts/{queued.attempt_id}/stop/")

    assert response.status_code == 302
    assert Run.objects.get(id=queued.id).status == RunStatus.STOPPED
    assert client.get(f"/ui/attempts/{queued.attempt_id}/stop/").status_code == 405
