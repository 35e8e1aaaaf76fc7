"""GET /api/v1/runs/<run_id>/entries: a real run's stored log read back as a conversation.

The `custom` agent here is a real process that prints a recorded Claude Code stream-json
session (`cat` of the fixture), run by the embedded worker; its entries come from the
LogChunk rows the log writer stored.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import AgentProfile, Project
from runs.entries.formats import normalizer
from tests.conftest import create_task, run_finished
from tests.helpers import assert_error

CLAUDE_FIXTURE = Path(__file__).parent.parent / "fixtures" / "entries" / "claude.jsonl"


@pytest.fixture
def replayed_run(work: str, api: APIClient, project: Project) -> str:
    """A finished run of a `custom` agent that printed the Claude fixture."""
    AgentProfile.objects.create(
        name="replay", agent_type="custom", command=f"cat {shlex.quote(str(CLAUDE_FIXTURE))}"
    )
    run_id = create_task(api, agent_type="replay", prompt="fix the test")["run_id"]
    run = run_finished(run_id)
    assert run.status == "success", run.error_summary
    return str(run_id)


def expected() -> dict[int, Any]:
    """The fixture's entries as a client holds them once every upsert is applied."""
    return dict(normalizer("claude").feed("stdout", CLAUDE_FIXTURE.read_text()))


def entries(api: APIClient, run_id: str, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/v1/runs/{run_id}/entries{query}")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_a_claude_stream_replayed_through_custom_is_a_conversation(
    api: APIClient, replayed_run: str
) -> None:
    page = entries(api, replayed_run)
    assert (page["run_id"], page["format"], page["has_more"]) == (replayed_run, "claude", False)
    got = {item["index"]: item["entry"] for item in page["entries"]}
    assert got == expected()
    assert page["next_after"] == max(got)
    kinds = [entry["type"] for entry in got.values()]
    assert kinds == [
        "session",
        "thinking",
        "plan",
        "tool_use",
        "assistant_message",
        "tool_use",
        "tool_use",
        "assistant_message",
        "usage",
    ]
    assert got[4]["status"] == "failed" and got[4]["action"]["exit_code"] == 1
    assert got[6]["action"]["edits"][0]["new"] == "    return a + b"


def test_pages_follow_the_cursor(api: APIClient, replayed_run: str) -> None:
    seen: dict[int, Any] = {}
    after, pages = 0, 0
    while True:
        page = entries(api, replayed_run, f"?after={after}&limit=4")
        seen.update({item["index"]: item["entry"] for item in page["entries"]})
        after, pages = page["next_after"], pages + 1
        if not page["has_more"]:
            break
    assert seen == expected() and pages == 3


def test_an_entry_that_changed_after_the_cursor_is_sent_again(
    api: APIClient, replayed_run: str
) -> None:
    # Entry 4 (a command) appeared pending, then finished before entry 5 appeared: a client
    # that saw 4 may have seen it pending; one that saw 5 saw it finished.
    page = entries(api, replayed_run, "?after=4")
    assert [item["index"] for item in page["entries"]] == [4, 5, 6, 7, 8, 9]
    assert page["entries"][0]["entry"]["status"] == "failed"
    page = entries(api, replayed_run, "?after=5")
    assert [item["index"] for item in page["entries"]] == [6, 7, 8, 9]
    assert entries(api, replayed_run, "?after=9")["entries"] == []


def test_plain_output_is_raw_entries(work: str, api: APIClient, project: Project) -> None:
    run_id = create_task(api, prompt="echo hello; echo oops >&2")["run_id"]
    assert run_finished(run_id).status == "success"
    page = entries(api, run_id)
    assert page["format"] == "raw"
    assert sorted((item["entry"]["stream"], item["entry"]["text"]) for item in page["entries"]) == [
        ("stderr", "oops"),
        ("stdout", "hello"),
    ]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?after=-1", 400, "BAD_REQUEST"),
        ("?after=x", 400, "BAD_REQUEST"),
        ("?limit=0", 400, "BAD_REQUEST"),
        (f"?after={2**40}", 400, "BAD_REQUEST"),
    ],
)
def test_bad_cursors_are_400(
    api: APIClient, replayed_run: str, query: str, status: int, code: str
) -> None:
    assert_error(api.get(f"/api/v1/runs/{replayed_run}/entries{query}"), status, code)


def test_unknown_and_invalid_runs(db: None, api: APIClient) -> None:
    assert_error(api.get("/api/v1/runs/run_nope/entries"), 404, "NOT_FOUND")
    assert_error(api.get("/api/v1/runs/bad%20id/entries"), 400, "BAD_REQUEST")
