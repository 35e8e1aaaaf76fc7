"""Stop escalates SIGINT → SIGTERM → SIGKILL: an agent that ignores the first two still ends
`stopped`, and nothing of it is left."""

from __future__ import annotations

from rest_framework.test import APIClient

from projects.models import Project
from tests.conftest import attempt_finished, create_task, log_text, run_finished, wait_for
from tests.processes import processes_of_run

# Ignored signals stay ignored in the children (the `sleep`s) too.
DEAF = "trap '' INT TERM; echo deaf; while true; do sleep 0.05; done"


def test_an_agent_that_ignores_sigint_and_sigterm_is_killed_and_ends_stopped(
    work: str, api: APIClient, project: Project
) -> None:
    created = create_task(api, prompt=DEAF)
    wait_for(lambda: "deaf" in log_text(created["run_id"]), what="the agent to trap signals")

    response = api.post(f"/api/v1/runs/{created['run_id']}/stop")

    run = run_finished(created["run_id"], 20)
    assert (response.status_code, response.json()) == (200, {"status": "stopped"})
    assert (run.status, run.error_summary, run.exit_code) == ("stopped", "stopped by user", 137)
    assert attempt_finished(run.attempt_id).status == "stopped"
    assert processes_of_run(run.id) == []
