"""The Agents page's test button (`runs.agents.trial`, `POST /ui/agents/test/`): a one-line
prompt run for real through an agent type or profile; a CLI that is missing or misconfigured
gives the message a run would fail with; a bad form is a 400 in the error shape."""

from __future__ import annotations

import pytest
from django.test import Client

from projects.models import AgentProfile
from runs.agents import trial
from runs.agents.trial import agent_trial
from tests.helpers import assert_error


@pytest.mark.django_db
def test_a_shell_prompt_runs_and_its_output_and_exit_code_are_shown(client: Client) -> None:
    response = client.post("/ui/agents/test/", {"agent": "shell", "prompt": "echo hi; exit 4"})

    assert response.status_code == 200
    page = response.content.decode()
    assert '<pre class="trial-stdout">hi\n</pre>' in page
    assert '<span class="mono trial-exit">4</span>' in page


@pytest.mark.django_db
def test_stderr_and_a_profile_s_environment_are_used() -> None:
    AgentProfile.objects.create(name="loud", agent_type="shell", env={"GREETING": "ahoy"})

    result = agent_trial("loud", 'echo "$GREETING" >&2')

    assert result.ok and result.stderr == "ahoy\n" and result.stdout == ""


@pytest.mark.django_db
def test_a_missing_cli_and_a_custom_agent_without_command_say_why(client: Client) -> None:
    AgentProfile.objects.create(name="ghost", agent_type="custom", command="no-such-cli {prompt}")

    missing = agent_trial("ghost", "hello")
    unconfigured = client.post("/ui/agents/test/", {"agent": "custom", "prompt": "hello"})

    assert not missing.ok and missing.exit_code is None
    assert "not found on PATH ('no-such-cli')" in missing.error
    assert "needs an agent profile with a command" in unconfigured.content.decode()


@pytest.mark.django_db
def test_a_prompt_that_hangs_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trial, "TRIAL_TIMEOUT_SECONDS", 0.5)

    result = agent_trial("shell", "echo started; sleep 30 & sleep 31; wait")

    assert result.timed_out and "no answer within 0.5 s" in result.error
    assert result.stdout == "started\n"


@pytest.mark.django_db
def test_a_bad_test_form_is_refused(client: Client) -> None:
    for body in [
        {"agent": "nope", "prompt": "echo"},
        {"agent": "shell", "prompt": "echo one\necho two"},
        {"agent": "shell", "prompt": ""},
        {"agent": "shell", "prompt": "x" * 1001},
        {},
    ]:
        body_error = assert_error(client.post("/ui/agents/test/", body), 400, "BAD_REQUEST")
        assert body_error["error"].startswith("invalid agent test: ")
