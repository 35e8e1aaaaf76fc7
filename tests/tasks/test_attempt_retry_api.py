"""`POST /api/v1/attempts/{id}/retry`: back to where an agent run started — the worktree reset,
that run and the later ones set aside (kept, hidden by default), a new run started resuming
the session from before — refusing uncommitted work unless `force`, which keeps it under a ref."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from conductor_site.live.models import Event
from projects.models import AgentProfile, Project
from runs.models import Attempt, Run
from tests.conftest import attempt_finished, create_task, run_finished, wait_for
from tests.helpers import assert_error, git_cli


def _ended_run(attempt_id: str, run_id: str) -> Run:
    run = run_finished(run_id)
    assert run.status == "success", run.error_summary
    attempt_finished(attempt_id)
    run.refresh_from_db()  # its commit is recorded after it ended
    return run


def _follow_up(api: APIClient, attempt_id: str, prompt: str) -> Run:
    answer = api.post(f"/api/v1/attempts/{attempt_id}/follow-up", {"prompt": prompt}).json()
    return _ended_run(attempt_id, answer["run_id"])


@pytest.fixture
def three_runs(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> tuple[Attempt, list[Run]]:
    """An attempt whose three agent runs each committed one file: one.txt, two.txt, three.txt."""
    created = create_task(api, agent_type="fake-claude", prompt="write one.txt one\nsummary One")
    attempt_id = Run.objects.get(id=created["run_id"]).attempt_id
    runs = [_ended_run(attempt_id, created["run_id"])]
    runs.append(_follow_up(api, attempt_id, "write two.txt two\nsummary Two"))
    runs.append(_follow_up(api, attempt_id, "write three.txt three\nsummary Three"))
    return Attempt.objects.get(id=attempt_id), runs


def _retry(api: APIClient, attempt: Attempt, **body: Any) -> Any:
    return api.post(f"/api/v1/attempts/{attempt.id}/retry", body, format="json")


def test_a_retry_resets_the_files_drops_the_later_runs_and_starts_again(
    three_runs: tuple[Attempt, list[Run]], api: APIClient, git_repo: Path
) -> None:
    attempt, (first, second, third) = three_runs
    worktree = Path(attempt.worktree_path)
    assert second.head_before == first.head_after != ""

    response = _retry(api, attempt, run_id=second.id, prompt="write four.txt four\nsummary Four")

    answer = response.json()
    assert response.status_code == 200, answer
    retried = answer["retried"]
    assert retried["reset_to"] == second.head_before
    assert retried["previous_head"] == third.head_after
    assert sorted(retried["dropped_run_ids"]) == sorted([second.id, third.id])
    assert (retried["resumed_run_id"], retried["saved_ref"]) == (first.id, "")
    new = _ended_run(attempt.id, retried["run_id"])
    assert (new.previous_run_id, new.cwd) == (first.id, first.cwd)
    assert new.agent_session_id == first.agent_session_id  # resumed, not a fresh session
    assert new.head_before == second.head_before
    # The branch: the first run's commit, then the new run's; the dropped work is gone.
    assert sorted(p.name for p in worktree.glob("*.txt")) == ["four.txt", "one.txt"]
    log = git_cli(git_repo, "log", "--format=%s", attempt.branch).splitlines()
    assert log == ["Four", "One", "initial"]
    # Hidden by default, kept and marked with ?include_dropped=1.
    listed = api.get(f"/api/v1/attempts/{attempt.id}/runs").json()["runs"]
    assert [r["run_id"] for r in listed] == [first.id, new.id]
    every = api.get(f"/api/v1/attempts/{attempt.id}/runs?include_dropped=1").json()["runs"]
    assert [r["run_id"] for r in every] == [first.id, second.id, third.id, new.id]
    assert [r["dropped_at"] is not None for r in every] == [False, True, True, False]
    detail = api.get(f"/api/v1/attempts/{attempt.id}").json()
    assert [r["run_id"] for r in detail["runs"]] == [first.id, new.id]
    # Each drop and the retry are events of the log (and live).
    changes = Event.objects.filter(attempt_id=attempt.id).values_list("run_id", "payload")
    dropped = {run for run, payload in changes if payload["change"] == "dropped"}
    assert dropped == {second.id, third.id}
    assert [p["type"] for _, p in changes if p["change"] == "retried"] == ["attempt.changed"]
    # The Conductor Loop routes keep listing every run, in their shapes (docs/api.md).
    loop = api.get("/api/projects/demo/tasks/t1").json()
    assert [r["id"] for r in loop["runs"]] == [first.id, second.id, third.id, new.id]
    assert all("dropped_at" not in r for r in loop["runs"])


def test_a_retry_from_the_first_run_starts_a_fresh_session_with_that_runs_prompt(
    three_runs: tuple[Attempt, list[Run]], api: APIClient, git_repo: Path
) -> None:
    attempt, (first, _second, third) = three_runs

    retried = _retry(api, attempt, run_id=first.id).json()["retried"]

    assert retried["resumed_run_id"] is None
    assert retried["reset_to"] == attempt.base_commit
    # The commits the reset dropped are kept under a ref, not only in the reflog (which git
    # expires): they survive an expiry and a gc.
    assert retried["previous_ref"] == f"refs/conductor/retried/{attempt.id}/1"
    git_cli(git_repo, "reflog", "expire", "--expire-unreachable=now", "--all")
    git_cli(git_repo, "gc", "--quiet", "--prune=now")
    kept = git_cli(git_repo, "rev-parse", retried["previous_ref"]).strip()
    assert kept == retried["previous_head"] == third.head_after
    assert git_cli(git_repo, "cat-file", "-t", kept).strip() == "commit"
    new = _ended_run(attempt.id, retried["run_id"])
    assert (new.prompt, new.previous_run_id) == (first.prompt, None)
    assert new.agent_session_id not in ("", first.agent_session_id)
    worktree = Path(attempt.worktree_path)
    assert sorted(p.name for p in worktree.glob("*.txt")) == ["one.txt"]
    assert Run.objects.filter(attempt=attempt, dropped_at=None).count() == 1


def test_a_dirty_worktree_is_refused_then_kept_under_a_ref_with_force(
    three_runs: tuple[Attempt, list[Run]], api: APIClient, git_repo: Path
) -> None:
    attempt, (_first, second, third) = three_runs
    worktree = Path(attempt.worktree_path)
    (worktree / "two.txt").write_text("edited by hand\n")
    (worktree / "notes" / "new.txt").parent.mkdir()
    (worktree / "notes" / "new.txt").write_text("untracked\n")

    refused = assert_error(_retry(api, attempt, run_id=second.id), 409, "CONFLICT")

    assert sorted(refused["details"]["files"]) == ["notes/new.txt", "two.txt"]
    assert refused["details"]["reason"] == "dirty"
    assert (worktree / "notes" / "new.txt").exists()
    assert git_cli(worktree, "rev-parse", "HEAD").strip() == third.head_after
    assert not Run.objects.filter(attempt=attempt).exclude(dropped_at=None).exists()

    body = {"run_id": second.id, "force": True, "prompt": "summary Again"}
    answer = _retry(api, attempt, **body).json()

    ref = answer["retried"]["saved_ref"]
    assert ref == f"refs/conductor/saved/{attempt.id}/1"
    assert git_cli(git_repo, "show", f"{ref}:notes/new.txt") == "untracked\n"
    assert git_cli(git_repo, "show", f"{ref}:two.txt") == "edited by hand\n"
    assert git_cli(git_repo, "rev-parse", f"{ref}^").strip() == third.head_after
    again = _ended_run(attempt.id, answer["retried"]["run_id"])
    assert not (worktree / "notes").exists() and not (worktree / "two.txt").exists()
    assert git_cli(worktree, "status", "--porcelain") == ""
    # A second save is a ref of its own; the first stays as it was.
    (worktree / "one.txt").write_text("again by hand\n")
    later = _retry(api, attempt, run_id=again.id, force=True).json()["retried"]
    assert later["saved_ref"] == f"refs/conductor/saved/{attempt.id}/2"
    assert git_cli(git_repo, "show", f"{later['saved_ref']}:one.txt") == "again by hand\n"
    assert git_cli(git_repo, "show", f"{ref}:notes/new.txt") == "untracked\n"
    _ended_run(attempt.id, later["run_id"])


def test_a_retry_is_refused_for_another_attempts_run_a_run_without_a_start_and_bad_bodies(
    three_runs: tuple[Attempt, list[Run]], api: APIClient, project: Project
) -> None:
    attempt, (first, second, third) = three_runs
    other_task = attempt.task.__class__.objects.create(project=project, task_id="t2")
    other = Attempt.objects.create(task=other_task, agent="shell", status="success")
    foreign = Run.objects.create(attempt=other, kind="agent", status="success", head_before="a")

    assert_error(_retry(api, attempt, run_id=foreign.id), 404, "NOT_FOUND")
    assert_error(_retry(api, attempt, run_id="run-nope"), 404, "NOT_FOUND")
    assert_error(_retry(api, attempt, run_id="../x"), 400, "BAD_REQUEST")
    assert_error(_retry(api, attempt), 400, "BAD_REQUEST")
    assert_error(_retry(api, attempt, run_id=second.id, force="maybe"), 400, "BAD_REQUEST")
    assert_error(api.post("/api/v1/attempts/nope/retry", {"run_id": first.id}), 404, "NOT_FOUND")
    Run.objects.filter(id=third.id).update(head_before="")
    refused = assert_error(_retry(api, attempt, run_id=third.id), 409, "CONFLICT")
    assert refused["details"]["reason"] == "no_head_before"
    assert not Run.objects.filter(attempt=attempt).exclude(dropped_at=None).exists()
    assert Run.objects.filter(attempt=attempt).count() == 3


def test_a_retry_is_refused_while_a_run_is_active(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile
) -> None:
    created = create_task(api, agent_type="fake-claude", prompt="hang")
    running = wait_for(
        lambda: Run.objects.filter(id=created["run_id"], status="running").first(),
        what="the run to start",
    )
    Run.objects.filter(id=running.id).update(head_before=running.attempt.base_commit or "x")

    response = api.post(
        f"/api/v1/attempts/{running.attempt_id}/retry", {"run_id": running.id}, format="json"
    )

    assert_error(response, 409, "CONFLICT")
    assert Run.objects.get(id=running.id).dropped_at is None
    assert api.post(f"/api/v1/runs/{running.id}/stop").status_code == 200
    attempt_finished(running.attempt_id)
