"""Landing an attempt through `/api/v1/attempts/{id}/...` (runs/landing_api.py) in embedded
mode: merge, rebase, continue, abort, push and pull requests on real repositories, a real bare
remote and the fake `gh` (tests/fixtures/fake_gh)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.models import Attempt
from tasks.models import Task
from tasks.services import followup_start
from tests.conftest import attempt_finished, create_task, run_finished
from tests.helpers import (
    assert_error,
    attempt_with_commits,
    commit_on,
    git_cli,
    parents,
    worktree_state,
)
from tests.runs.conftest import FakeGh

ROUTES = ("merge", "rebase", "rebase/continue", "conflicts/abort", "push", "pr", "pr/attach")


@pytest.fixture
def task(project: Project) -> Task:
    return Task.objects.create(
        project=project, task_id="greet", title="Add a greeting", prompt="greet", agent_type="shell"
    )


@pytest.fixture
def attempt(task: Task, git_repo: Path) -> Attempt:
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")
    return attempt_with_commits(
        task, [{"hello.txt": "hello\n"}, {"hello.txt": "hello world\n"}], summary="Greets."
    )


def post(api: APIClient, attempt: Attempt, route: str, body: Any = None) -> Any:
    return api.post(f"/api/v1/attempts/{attempt.id}/{route}", body or {}, format="json")


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    return dict(response.json())


def rev(repo: Path | str, name: str) -> str:
    return git_cli(repo, "rev-parse", name).strip()


def test_a_squash_merge_makes_one_commit_and_marks_the_task_done(
    api: APIClient, git_repo: Path, attempt: Attempt
) -> None:
    old = rev(git_repo, "main")

    body = ok(post(api, attempt, "merge", {"strategy": "squash", "expected_target_commit": old}))

    new = rev(git_repo, "main")
    assert body["merged"] == {
        "strategy": "squash",
        "commit": new,
        "previous": old,
        "target": "main",
        "updated_worktree": "",
    }
    assert parents(git_repo, new) == [old]
    assert git_cli(git_repo, "log", "--format=%s", f"{old}..main") == "Add a greeting\n"
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"
    detail = api.get(f"/api/v1/attempts/{attempt.id}").json()
    assert (detail["merge_commit"], detail["merge_strategy"]) == (new, "squash")
    assert detail["merged_at"].endswith("Z") and detail["operation"] == ""
    assert body["merge_commit"] == new
    assert Task.objects.get(id=attempt.task_id).column == Task.Column.DONE


def test_the_merge_and_rebase_strategies_and_a_message_of_ones_own(
    api: APIClient, git_repo: Path, task: Task, attempt: Attempt
) -> None:
    head = rev(git_repo, attempt.branch)
    merged = ok(post(api, attempt, "merge", {"strategy": "merge", "message": "Mine\n"}))
    assert parents(git_repo, merged["merged"]["commit"]) == [merged["merged"]["previous"], head]
    assert git_cli(git_repo, "log", "-1", "--format=%B", "main").strip() == "Mine"

    second = attempt_with_commits(task, [{"b.txt": "b\n"}])
    rebased = ok(post(api, second, "merge", {"strategy": "rebase"}))
    assert rebased["merged"]["commit"] == rev(git_repo, second.branch) == rev(git_repo, "main")


def test_a_conflict_is_a_409_with_the_files_and_gits_message(
    api: APIClient, git_repo: Path, attempt: Attempt
) -> None:
    moved = commit_on(git_repo, "main", {"hello.txt": "hallo\n"})

    body = assert_error(post(api, attempt, "merge"), 409, "CONFLICT")

    assert body["details"]["reason"] == "conflicts"
    assert body["details"]["conflicted_files"] == ["hello.txt"]
    assert "CONFLICT" in body["details"]["git"]
    assert "hello.txt" in body["error"]
    assert rev(git_repo, "main") == moved
    assert api.get(f"/api/v1/attempts/{attempt.id}").json()["merge_commit"] == ""


def test_a_target_that_moved_is_refused_then_rebased_and_merged(
    api: APIClient, git_repo: Path, attempt: Attempt
) -> None:
    reviewed = rev(git_repo, "main")
    moved = commit_on(git_repo, "main", {"other.txt": "other\n"})

    refused = assert_error(
        post(api, attempt, "merge", {"expected_target_commit": reviewed}), 409, "CONFLICT"
    )
    assert refused["details"] == {"reason": "target_moved", "target_commit": moved}
    assert rev(git_repo, "main") == moved

    status = api.get(f"/api/v1/attempts/{attempt.id}/branch-status").json()
    assert (status["target_moved"], status["commits_behind"]) == (True, 1)
    rebased = ok(post(api, attempt, "rebase"))
    assert rebased["rebased"] == {"head": rev(git_repo, attempt.branch), "onto": moved}
    assert rebased["base_commit"] == moved
    assert parents(git_repo, attempt.branch) != [reviewed]

    merged = ok(post(api, attempt, "merge", {"expected_target_commit": moved}))
    assert parents(git_repo, "main") == [moved] == [merged["merged"]["previous"]]
    assert git_cli(git_repo, "show", "main:other.txt") == "other\n"
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"


def conflicting_rebase(api: APIClient, git_repo: Path, attempt: Attempt) -> None:
    commit_on(git_repo, "main", {"hello.txt": "hallo\n"})
    refused = assert_error(post(api, attempt, "rebase"), 409, "CONFLICT")
    assert refused["details"]["conflicted_files"] == ["hello.txt"]
    assert (refused["details"]["reason"], refused["details"]["op"]) == ("conflicts", "rebase")
    status = api.get(f"/api/v1/attempts/{attempt.id}/branch-status").json()
    assert status["operation_in_progress"] == "rebase"


def test_a_conflicting_rebase_is_aborted_back_to_where_it_was(
    api: APIClient, git_repo: Path, attempt: Attempt
) -> None:
    before = worktree_state(Path(attempt.worktree_path))
    conflicting_rebase(api, git_repo, attempt)

    body = ok(post(api, attempt, "conflicts/abort"))

    assert body["aborted"] == "rebase"
    assert worktree_state(Path(attempt.worktree_path)) == before
    again = assert_error(post(api, attempt, "conflicts/abort"), 409, "CONFLICT")
    assert again["details"]["reason"] == "in_progress"


def test_a_conflicting_rebase_continues_once_resolved(
    api: APIClient, git_repo: Path, attempt: Attempt
) -> None:
    conflicting_rebase(api, git_repo, attempt)
    unresolved = assert_error(post(api, attempt, "rebase/continue"), 409, "CONFLICT")
    assert unresolved["details"]["conflicted_files"] == ["hello.txt"]

    (Path(attempt.worktree_path) / "hello.txt").write_text("hello\n")  # the branch's side
    body = ok(post(api, attempt, "rebase/continue"))

    assert body["rebased"]["onto"] == rev(git_repo, "main") == body["base_commit"]
    assert git_cli(git_repo, "show", f"{attempt.branch}:hello.txt") == "hello world\n"
    assert git_cli(git_repo, "rev-list", "--count", f"main..{attempt.branch}") == "2\n"
    ok(post(api, attempt, "merge"))
    assert git_cli(git_repo, "show", "main:hello.txt") == "hello world\n"


def test_push_to_a_bare_remote_and_force_after_a_rebase(
    api: APIClient, git_repo: Path, attempt: Attempt, remote: Path
) -> None:
    body = ok(post(api, attempt, "push"))
    assert body["pushed"] == {
        "remote": "origin",
        "branch": attempt.branch,
        "commit": rev(git_repo, attempt.branch),
    }
    assert rev(remote, attempt.branch) == rev(git_repo, attempt.branch)

    commit_on(git_repo, "main", {"other.txt": "o\n"})
    ok(post(api, attempt, "rebase"))
    rejected = assert_error(post(api, attempt, "push"), 409, "CONFLICT")
    assert "rejected" in rejected["details"]["git"]
    ok(post(api, attempt, "push", {"force": True}))
    assert rev(remote, attempt.branch) == rev(git_repo, attempt.branch)


def test_a_pull_request_is_opened_through_gh_and_recorded(
    api: APIClient, attempt: Attempt, remote: Path, fake_gh: FakeGh
) -> None:
    body = ok(post(api, attempt, "pr", {"title": "Greetings", "base": "main"}))

    url = "https://github.com/octo/demo/pull/7"
    assert body["pull_request"] == {
        "url": url,
        "number": 7,
        "state": "open",
        "head": attempt.branch,
    }
    assert (body["pr_url"], body["pr_number"], body["pr_state"]) == (url, 7, "open")
    created = json.loads(fake_gh.state.read_text())[attempt.branch]["args"]
    assert "--title=Greetings" in created and "--base=main" in created
    assert rev(remote, attempt.branch)
    again = assert_error(post(api, attempt, "pr"), 409, "CONFLICT")
    assert again["details"]["reason"] == "pr_open"


def test_a_pull_request_is_attached_by_number_or_url_only_if_it_is_the_branchs(
    api: APIClient, attempt: Attempt, fake_gh: FakeGh
) -> None:
    url = "https://github.com/octo/demo/pull/41"
    fake_gh.state.write_text(
        json.dumps(
            {
                attempt.branch: {"url": url, "number": 41, "state": "MERGED"},
                "someone-else": {"url": f"{url}2", "number": 412, "state": "OPEN"},
            }
        )
    )

    assert ok(post(api, attempt, "pr/attach", {"number": 41}))["pr_state"] == "merged"
    assert ok(post(api, attempt, "pr/attach", {"url": url}))["pr_number"] == 41
    assert ok(post(api, attempt, "pr/attach"))["pr_url"] == url
    other = assert_error(post(api, attempt, "pr/attach", {"number": 412}), 409, "CONFLICT")
    assert other["details"]["reason"] == "pr_branch" and "someone-else" in other["error"]
    assert api.get(f"/api/v1/attempts/{attempt.id}").json()["pr_number"] == 41


def test_without_gh_it_says_how_to_install_it(
    api: APIClient, attempt: Attempt, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(Path(git_cli(".", "--exec-path").strip())))

    body = assert_error(post(api, attempt, "pr"), 400, "BAD_REQUEST")

    assert "https://cli.github.com" in body["error"] and "gh auth login" in body["error"]
    assert body["details"] == {"reason": "gh_unavailable"}


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("merge", {"strategy": "octopus"}, "strategy"),
        ("merge", {"expected_target_commit": "abc123"}, "expected_target_commit"),
        ("merge", {"message": "a\u0000b"}, None),  # refused by the JSON parser itself
        ("push", {"force": "maybe"}, "force"),
        ("pr", {"base": "-x"}, "base"),
        ("pr/attach", {"number": 0}, "number"),
        ("pr/attach", {"url": "not a url"}, "url"),
        ("pr/attach", {"number": 1, "url": "https://github.com/o/r/pull/1"}, "non_field_errors"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    api: APIClient, git_repo: Path, attempt: Attempt, route: str, body: Any, field: str | None
) -> None:
    main = rev(git_repo, "main")

    refused = assert_error(post(api, attempt, route, body), 400, "BAD_REQUEST")

    assert field is None or field in refused["details"]["fields"]
    assert rev(git_repo, "main") == main


def test_a_body_that_is_not_an_object_is_a_400_and_a_form_a_415(
    api: APIClient, attempt: Attempt
) -> None:
    for route in ("merge", "push", "pr", "pr/attach"):
        response = api.post(f"/api/v1/attempts/{attempt.id}/{route}", [1], format="json")
        assert_error(response, 400, "BAD_REQUEST")
        form = api.post(f"/api/v1/attempts/{attempt.id}/{route}", {"force": "true"})
        assert_error(form, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_and_bad_attempt_ids_are_404_and_400(db: None, api: APIClient, route: str) -> None:
    assert_error(api.post(f"/api/v1/attempts/no-such/{route}", {}, format="json"), 404, "NOT_FOUND")
    bad = api.post(f"/api/v1/attempts/bad.id/{route}", {}, format="json")
    assert_error(bad, 400, "BAD_REQUEST")


def test_an_attempt_without_a_branch_is_refused_not_a_500(api: APIClient, task: Task) -> None:
    bare = Attempt.objects.create(task=task, agent="shell", status="success")
    for route in ROUTES:
        body = assert_error(post(api, bare, route), 400, "BAD_REQUEST")
        assert "has no branch" in body["error"]


def test_two_merges_at_once_one_is_200_the_other_409(
    transactional_db: None, git_repo: Path, attempt: Attempt
) -> None:
    main = rev(git_repo, "main")
    start = threading.Barrier(2)
    answers: list[Any] = []

    def merge(strategy: str) -> None:
        start.wait()
        try:
            answers.append(post(APIClient(), attempt, "merge", {"strategy": strategy}))
        finally:
            connection.close()

    threads = [threading.Thread(target=merge, args=(s,)) for s in ("squash", "merge")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(a.status_code for a in answers) == [200, 409], [a.content for a in answers]
    lost = next(a.json() for a in answers if a.status_code == 409)
    assert lost["details"]["reason"] in ("busy", "nothing_to_merge")
    won = next(a.json() for a in answers if a.status_code == 200)
    assert git_cli(git_repo, "rev-list", "--first-parent", f"{main}..main").split() == [
        won["merged"]["commit"]
    ]


def test_done_means_run_read_follow_up_see_the_target_move_rebase_and_squash_merge(
    work: str, api: APIClient, project: Project, git_repo: Path, fake_claude: AgentProfile
) -> None:
    """The issue's whole flow through the API; the follow-up has no route yet (the service
    starts it). The user works on main in their own tree with an untracked file of theirs."""
    (git_repo / "notes.txt").write_text("mine\n")
    prompt = "Greet\nwrite hello.txt hello\nsummary Hi"
    created = create_task(api, agent_type="fake-claude", prompt=prompt)
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    assert attempt.status == "success", attempt.error_summary
    diff = api.get(f"/api/v1/attempts/{attempt.id}/diff").json()
    assert [(f["new_path"], f["new_content"]) for f in diff["files"]] == [("hello.txt", "hello\n")]

    task = Task.objects.get(id=attempt.task_id)
    followup = followup_start(task, "write bye.txt bye\nsummary Hi and bye")
    assert run_finished(followup.id).status == "success"
    attempt = attempt_finished(attempt.id)
    diff = api.get(f"/api/v1/attempts/{attempt.id}/diff?stats_only=true").json()
    assert sorted(f["new_path"] for f in diff["files"]) == ["bye.txt", "hello.txt"]

    git_cli(git_repo, "commit", "-q", "--allow-empty", "-m", "the user's own commit")
    moved = rev(git_repo, "main")
    assert api.get(f"/api/v1/attempts/{attempt.id}/branch-status").json()["target_moved"]
    ok(post(api, Attempt.objects.get(id=attempt.id), "rebase"))
    merged = ok(
        post(api, Attempt.objects.get(id=attempt.id), "merge", {"expected_target_commit": moved})
    )

    assert merged["merged"]["updated_worktree"] == str(git_repo)
    assert git_cli(git_repo, "log", "--format=%s", "main") == (
        "Greet\nthe user's own commit\ninitial\n"
    )
    assert git_cli(git_repo, "status", "--porcelain") == "?? notes.txt\n"
    assert (git_repo / "hello.txt").read_text() == "hello\n"
    assert (git_repo / "bye.txt").read_text() == "bye\n"
    assert (git_repo / "notes.txt").read_text() == "mine\n"
    assert git_cli(git_repo, "branch", "--show-current") == "main\n"
