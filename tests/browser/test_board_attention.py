"""The board says what needs attention, live, in a real Chromium: a question an agent asks on
a task's bus puts a "needs input" badge on its card, counts in the stats bar and the tab's
title, and all three go when a message answers it; the status filter's "needs input" keeps
those cards only, and follows questions asked and answered; the stats bar follows runs and
moves without a reload."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import created, screenshot, url
from tests.conftest import wait_for
from tests.processes import Server


def board_with_task(page: Page, server: Server, repo: Path, project_id: str, prompt: str) -> None:
    created(server, "/api/projects", {"project_id": project_id, "project_root": str(repo)})
    body = {"project_id": project_id, "task_id": "t1", "agent_type": "shell", "prompt": prompt}
    run_id = created(server, "/api/v1/tasks", body)["run_id"]
    wait_for(partial(run_ended, server, run_id), 30, "the task's run to end")  # no toast then
    with page.expect_response(lambda response: "/messages/newest/" in response.url):
        page.goto(url(server, f"/ui/projects/{project_id}/"))
    page.evaluate("window.notReloaded = true")


def run_ended(server: Server, run_id: str) -> bool:
    return server.request("GET", f"/api/v1/runs/{run_id}")[1]["status"] in ("success", "failed")


def stat(page: Page, name: str) -> Any:
    return page.locator(f'#board-stats [data-stat="{name}"] strong')


def test_a_question_marks_its_card_until_it_is_answered(
    page: Page, server: Server, git_repo: Path
) -> None:
    board_with_task(page, server, git_repo, "asking", "true")
    badge = page.locator('.card[data-task="t1"] .badge.needs-input')
    expect(stat(page, "completed")).to_have_text("1")
    expect(badge).to_have_count(0)

    question = {"project_id": "asking", "task_id": "t1", "type": "QUESTION"}
    asked = created(server, "/api/v1/messages", {**question, "body": "Which database?"})
    expect(badge).to_have_text("needs input")
    expect(stat(page, "needs-input")).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    screenshot(page, "board-needs-input")

    answer = {**question, "type": "USER", "body": "PostgreSQL", "parents": [asked["msg_id"]]}
    created(server, "/api/v1/messages", answer)
    expect(badge).to_have_count(0)
    expect(stat(page, "needs-input")).to_have_text("0")
    expect(page.locator(".toast.question")).to_have_count(0)
    expect(page).not_to_have_title(re.compile(r"^\("))
    assert page.evaluate("window.notReloaded") is True


def test_the_stats_bar_follows_runs_and_moves_without_a_reload(
    page: Page, server: Server, git_repo: Path
) -> None:
    board_with_task(page, server, git_repo, "counted", "echo about to fail; exit 3")
    expect(stat(page, "failed")).to_have_text("1")
    expect(stat(page, "tasks")).to_have_text("1")
    expect(stat(page, "inreview")).to_have_text("0")

    body = {"project_id": "counted", "task_id": "t2", "agent_type": "shell", "prompt": "true"}
    created(server, "/api/v1/tasks", body)
    expect(stat(page, "tasks")).to_have_text("2")
    expect(stat(page, "completed")).to_have_text("1")
    expect(stat(page, "runs")).to_have_text("2")

    status, moved = server.request(
        "POST", "/api/v1/tasks/t2/move?project_id=counted", {"column": "inreview"}
    )
    assert status == 200, moved
    expect(stat(page, "inreview")).to_have_text("1")
    expect(stat(page, "failed")).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True


def test_the_needs_input_filter_follows_questions_asked_and_answered(
    page: Page, server: Server, git_repo: Path
) -> None:
    board_with_task(page, server, git_repo, "triage", "true")
    body = {"project_id": "triage", "task_id": "t2", "agent_type": "shell", "prompt": "true"}
    run_id = created(server, "/api/v1/tasks", body)["run_id"]
    wait_for(partial(run_ended, server, run_id), 30, "t2's run to end")
    question = {"project_id": "triage", "task_id": "t2", "type": "QUESTION", "body": "Ship?"}
    asked = created(server, "/api/v1/messages", question)
    expect(page.locator(".card .badge.needs-input")).to_have_count(1)

    page.get_by_label("Status").select_option(label="needs input")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=needs-input"))
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator('.card[data-task="t2"] .badge.needs-input')).to_be_visible()
    expect(page.locator("#column-todo .count")).to_have_text("1")
    page.evaluate("window.notReloaded = true")

    created(server, "/api/v1/messages", {**question, "task_id": "t1", "body": "Which DB?"})
    expect(page.locator('.card[data-task="t1"] .badge.needs-input')).to_be_visible()
    expect(page.locator("#column-todo .count")).to_have_text("2")
    answer = {**question, "type": "USER", "body": "Yes", "parents": [asked["msg_id"]]}
    created(server, "/api/v1/messages", answer)
    expect(page.locator('.card[data-task="t2"]')).to_have_count(0)
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator("#column-todo .count")).to_have_text("1")
    expect(page.get_by_label("Status")).to_have_value("needs-input")
    assert page.evaluate("window.notReloaded") is True
