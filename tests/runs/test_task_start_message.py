"""`task_start` goes on the task's bus once the agent's process runs: the append no longer
holds up the agent's start (issue 8 §1), and an agent that could not start never says it did."""

from __future__ import annotations

from pathlib import Path

from rest_framework.test import APIClient

from messagebus.models import Message
from projects.models import AgentProfile, Project
from tests.conftest import attempt_finished, create_task, run_finished


def task_starts(run_id: str) -> list[str]:
    return list(
        Message.objects.filter(run_id=run_id, type="task_start").values_list("body", flat=True)
    )


def test_a_started_agent_says_so_once(work: str, api: APIClient, project: Project) -> None:
    run = run_finished(create_task(api, prompt="echo hi")["run_id"])
    attempt_finished(run.attempt_id)

    assert run.status == "success" and task_starts(run.id) == ["shell started"]


def test_an_agent_that_could_not_start_says_nothing_of_starting(
    work: str, api: APIClient, project: Project, tmp_path: Path
) -> None:
    agent = tmp_path / "agent"
    agent.write_text("#!/nonexistent/interpreter\n")  # executable, but exec fails
    agent.chmod(0o755)
    AgentProfile.objects.create(name="broken", agent_type="claude", command=str(agent))

    run = run_finished(create_task(api, agent_type="broken", prompt="go")["run_id"])
    attempt_finished(run.attempt_id)

    assert (run.status, run.exit_code) == ("failed", 127), run.error_summary
    assert "could not start" in run.error_summary
    assert task_starts(run.id) == []
