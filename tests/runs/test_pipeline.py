"""The whole attempt pipeline in embedded mode, with real git and real processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rest_framework.test import APIClient

from projects import storage
from projects.models import AgentProfile, Project
from runs.models import Attempt, Run
from tests.conftest import attempt_finished, create_task, log_text, run_finished
from tests.helpers import git_cli

# What CONTRACT.md promises every agent: where its task and run live, and who it is.
AGENT_ENV = (
    "CONDUCTOR_PROJECT_ID",
    "CONDUCTOR_TASK_ID",
    "CONDUCTOR_RUN_ID",
    "CONDUCTOR_TASK_DIR",
    "CONDUCTOR_RUN_DIR",
    "CONDUCTOR_API_URL",
)


def test_it_runs_setup_agent_commit_cleanup_on_a_new_branch(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, git_repo: Path
) -> None:
    project.setup_script = "echo setting up; touch .setup-ran"
    project.cleanup_script = "echo cleaning up"
    project.save()
    (git_repo / ".gitignore").write_text(".setup-ran\n")
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "ignore marker")
    head_before = git_cli(git_repo, "rev-parse", "HEAD")

    created = create_task(
        api,
        agent_type="fake-claude",
        prompt="Add a greeting\nwrite hello.txt hello world\nsummary Add hello.txt greeting",
    )
    attempt = attempt_finished(run_finished(created["run_id"]).attempt_id)
    run = Run.objects.get(id=created["run_id"])

    assert (run.status, attempt.status) == ("success", "success"), attempt.error_summary
    kinds = list(attempt.runs.order_by("started_at").values_list("kind", "status"))
    assert kinds == [("setup", "success"), ("agent", "success"), ("cleanup", "success")]
    assert attempt.branch.startswith("conductor/") and attempt.short_id in attempt.branch
    assert git_cli(git_repo, "show", f"{attempt.branch}:hello.txt") == "hello world\n"
    message = git_cli(git_repo, "log", "-1", "--format=%B", attempt.branch)
    assert message.startswith("Add hello.txt greeting")
    assert f"Conductor-Run: {run.id}" in message
    assert run.head_after == git_cli(git_repo, "rev-parse", attempt.branch).strip()
    # The user's own checkout is untouched.
    assert git_cli(git_repo, "rev-parse", "HEAD") == head_before
    assert git_cli(git_repo, "branch", "--show-current").strip() == "main"
    assert not (git_repo / "hello.txt").exists()
    assert git_cli(git_repo, "status", "--porcelain") == ""
    # Logs kept in order, with the agent's session and stream-json lines.
    assert run.agent_session_id
    assert '"type": "system"' in log_text(run.id, "stdout").splitlines()[0]
    setup = attempt.runs.get(kind="setup")
    assert log_text(setup.id) == "setting up\n"


def test_it_copies_worktreeinclude_files_into_the_worktree(
    work: str, api: APIClient, project: Project, git_repo: Path
) -> None:
    (git_repo / ".gitignore").write_text(".env\n")
    (git_repo / ".worktreeinclude").write_text("# secrets\n.env\n")
    git_cli(git_repo, "add", ".")
    git_cli(git_repo, "commit", "-qm", "include")
    (git_repo / ".env").write_text("TOKEN=abc\n")

    run = run_finished(create_task(api, prompt="cat .env")["run_id"])

    assert run.status == "success"
    assert log_text(run.id) == "TOKEN=abc\n"


def test_a_project_without_a_repository_runs_in_the_task_folder(
    work: str, api: APIClient, settings: object
) -> None:
    created = create_task(api, project_id="plain", prompt="pwd; echo made > out.txt")
    run = run_finished(created["run_id"])

    assert run.status == "success"
    folder = Path(run.cwd)
    assert log_text(run.id).strip() == str(folder)
    assert (folder / "out.txt").read_text() == "made\n"
    assert (folder / "TASK.md").read_text() == "pwd; echo made > out.txt"
    assert folder.name == "t1" and folder.parent.name == "plain"
    assert Project.objects.get(id="plain").project_root == ""


def test_a_project_root_that_is_not_a_git_repository_runs_in_the_task_folder(
    work: str, api: APIClient, tmp_path: Path
) -> None:
    plain = tmp_path / "plain-dir"
    plain.mkdir()
    response = api.post(
        "/api/projects", {"project_id": "plain", "project_root": str(plain)}, format="json"
    )
    assert response.status_code == 201, response.content

    run = run_finished(create_task(api, project_id="plain", prompt="touch out.txt")["run_id"])
    attempt_finished(run.attempt_id)

    assert run.status == "success", run.error_summary
    assert Path(run.cwd) == storage.task_dir("plain", "t1")
    assert (Path(run.cwd) / "out.txt").exists() and list(plain.iterdir()) == []
    assert api.get("/api/projects/plain").json()["has_repository"] is False


def test_a_project_root_that_vanished_fails_the_attempt_with_what_to_do(
    work: str, api: APIClient, project: Project
) -> None:
    Project.objects.filter(id="demo").update(project_root="/nonexistent/repo")

    run = run_finished(create_task(api)["run_id"])
    attempt = attempt_finished(run.attempt_id)

    assert run.status == "failed" and attempt.status == "failed"
    assert "/nonexistent/repo does not exist any more" in attempt.error_summary


def test_the_agent_gets_its_ids_folders_and_the_api_url_in_its_environment(
    work: str, api: APIClient, project: Project, settings: Any
) -> None:
    run_id = create_task(api, prompt="env | grep ^CONDUCTOR_ | sort")["run_id"]
    run = run_finished(run_id)

    env = dict(line.split("=", 1) for line in log_text(run.id).splitlines())
    task_dir = storage.task_dir("demo", "t1")
    assert run.status == "success"
    assert {name: env.get(name) for name in AGENT_ENV} == {
        "CONDUCTOR_PROJECT_ID": "demo",
        "CONDUCTOR_TASK_ID": "t1",
        "CONDUCTOR_RUN_ID": run_id,
        "CONDUCTOR_TASK_DIR": str(task_dir),
        "CONDUCTOR_RUN_DIR": str(task_dir / "runs" / run_id),
        "CONDUCTOR_API_URL": settings.CONDUCTOR["API_URL"],
    }
    assert (task_dir / "TASK.md").is_file() and (task_dir / "runs" / run_id).is_dir()


def test_a_dirty_base_repository_is_left_as_it_was(
    work: str, api: APIClient, project: Project, git_repo: Path
) -> None:
    (git_repo / "README.md").write_text("# local edit\n")
    (git_repo / "scratch.txt").write_text("untracked\n")
    status_before = git_cli(git_repo, "status", "--porcelain")

    run = run_finished(create_task(api, prompt="cat README.md; echo new > new.txt")["run_id"])

    assert run.status == "success"
    assert log_text(run.id) == "# demo\n", "the worktree starts from the committed base"
    assert git_cli(git_repo, "status", "--porcelain") == status_before
    assert (git_repo / "README.md").read_text() == "# local edit\n"
    branch = attempt_finished(run.attempt_id).branch
    assert git_cli(git_repo, "show", f"{branch}:new.txt") == "new\n"


def test_a_failing_setup_script_fails_the_attempt_and_skips_the_agent(
    work: str, api: APIClient, project: Project
) -> None:
    project.setup_script = "echo broken >&2; exit 3"
    project.save()

    run = run_finished(create_task(api, prompt="echo should not run")["run_id"])
    attempt = attempt_finished(run.attempt_id)

    assert run.status == "failed"
    assert run.error_summary == "not started: setup script failed: exited with code 3"
    assert attempt.status == "failed" and "setup script failed" in attempt.error_summary
    setup = attempt.runs.get(kind="setup")
    assert (setup.status, setup.exit_code) == ("failed", 3)
    assert log_text(setup.id, "stderr") == "broken\n"
    assert log_text(run.id) == ""


def test_a_missing_agent_binary_fails_with_what_to_do(
    work: str, api: APIClient, project: Project
) -> None:
    AgentProfile.objects.create(name="ghost", agent_type="claude", command="no-such-agent-xyz")

    run = run_finished(create_task(api, agent_type="ghost", prompt="hi")["run_id"])

    assert run.status == "failed"
    assert run.exit_code == 127
    assert run.error_summary == (
        "agent 'claude' not found on PATH ('no-such-agent-xyz') — install it or set the "
        "command in the agent profile"
    )
    assert attempt_finished(run.attempt_id).status == "failed"


def test_exit_codes_get_readable_summaries(work: str, api: APIClient, project: Project) -> None:
    killed = create_task(api, task_id="killed", prompt="echo before; kill -9 $$")
    failed = create_task(api, task_id="failed", prompt="exit 4")

    killed_run = run_finished(killed["run_id"])
    failed_run = run_finished(failed["run_id"])

    assert (killed_run.status, killed_run.exit_code) == ("failed", 137)
    assert killed_run.error_summary == "killed (out of memory or external signal)"
    assert log_text(killed_run.id) == "before\n"
    assert (failed_run.exit_code, failed_run.error_summary) == (4, "exited with code 4")


def test_a_failed_agent_still_commits_its_work(
    work: str, api: APIClient, project: Project, git_repo: Path
) -> None:
    run = run_finished(create_task(api, prompt="echo partial > part.txt; exit 1")["run_id"])

    branch = attempt_finished(run.attempt_id).branch
    assert run.status == "failed"
    assert git_cli(git_repo, "show", f"{branch}:part.txt") == "partial\n"
    assert git_cli(git_repo, "log", "-1", "--format=%s", branch).startswith("WIP (failed): ")


def test_a_follow_up_resumes_the_session_in_the_same_worktree(
    work: str, api: APIClient, project: Project, fake_claude: AgentProfile, git_repo: Path
) -> None:
    first = create_task(api, agent_type="fake-claude", prompt="write a.txt one\nsummary One")
    first_run = run_finished(first["run_id"])
    attempt_finished(first_run.attempt_id)

    second = create_task(
        api, agent_type="fake-claude", attach_mode="resume", prompt="write b.txt two\nsummary Two"
    )
    second_run = run_finished(second["run_id"])
    attempt = attempt_finished(second_run.attempt_id)

    assert second_run.status == "success"
    assert second_run.attempt_id == first_run.attempt_id
    assert second_run.previous_run_id == first_run.id
    assert second_run.agent_session_id == first_run.agent_session_id
    assert '"resumed": true' in log_text(second_run.id)
    assert git_cli(git_repo, "log", "--format=%s", attempt.branch).splitlines()[:2] == [
        "Two",
        "One",
    ]


def test_attach_starts_a_new_attempt_on_its_own_branch(
    work: str, api: APIClient, project: Project
) -> None:
    first = run_finished(create_task(api, prompt="echo one")["run_id"])
    second = run_finished(create_task(api, attach_mode="attach", prompt="echo two")["run_id"])

    assert second.attempt_id != first.attempt_id
    branches = set(Attempt.objects.values_list("branch", flat=True))
    assert len(branches) == 2
    assert Run.objects.filter(kind="agent").count() == 2


def test_the_agent_version_is_asked_once_per_binary_and_modification_time(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    probes = tmp_path / "probes"
    binary = tmp_path / "agent"

    def install(version: str) -> None:
        binary.write_text(
            "#!/bin/bash\n"
            f'if [ "$1" = --version ]; then echo probe >> {probes}; echo "agent {version}"; '
            "exit 0; fi\ncat > /dev/null\n"
        )
        binary.chmod(0o755)

    def run_version(task_id: str) -> str:
        run = run_finished(create_task(api, task_id=task_id, agent_type="counted")["run_id"])
        assert run.status == "success", run.error_summary
        return run.agent_version

    install("1.0")
    AgentProfile.objects.create(name="counted", agent_type="claude", command=str(binary))

    assert [run_version("t1"), run_version("t2")] == ["agent 1.0", "agent 1.0"]
    assert probes.read_text().count("probe") == 1, "asked once for two runs"

    install("2.0")  # an upgrade: the same path, a new modification time
    modified = binary.stat().st_mtime + 10
    os.utime(binary, (modified, modified))

    assert run_version("t3") == "agent 2.0"
    assert probes.read_text().count("probe") == 2
