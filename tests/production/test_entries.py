"""A run's entries when a separate `conductor worker` ran it and PostgreSQL holds its log."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.entries.formats import normalizer
from tests.conftest import create_task, run_finished
from tests.processes import ConductorProcess
from tests.runs.test_entries_api import CLAUDE_FIXTURE

pytestmark = pytest.mark.production


def test_a_worker_run_reads_back_as_a_conversation(
    start_worker: Callable[..., ConductorProcess], api: APIClient, project: Project
) -> None:
    start_worker()
    AgentProfile.objects.create(
        name="replay", agent_type="custom", command=f"cat {shlex.quote(str(CLAUDE_FIXTURE))}"
    )
    run = run_finished(create_task(api, agent_type="replay", prompt="fix the test")["run_id"])
    assert run.status == "success", run.error_summary

    response = api.get(f"/api/v1/runs/{run.id}/entries?limit=5")
    assert response.status_code == 200, response.content
    first = response.json()
    rest = api.get(f"/api/v1/runs/{run.id}/entries?after={first['next_after']}").json()
    got = {item["index"]: item["entry"] for item in first["entries"] + rest["entries"]}
    assert (first["format"], first["has_more"], rest["has_more"]) == ("claude", True, False)
    assert got == dict(normalizer("claude").feed("stdout", CLAUDE_FIXTURE.read_text()))
