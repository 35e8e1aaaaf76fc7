"""The task page's message bus in a real Chromium: messages posted through the API appear
live as threads, the post box appends to the bus, an agent's question is highlighted with an
answer box until it is answered from there, "Show earlier" reads back past the newest page,
a post the server does not answer is said and its text kept, and a body is shown as text,
never run as HTML. The project's messages page merges its
buses, and a question on the project's own bus is highlighted and answered there too."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import created, screenshot, url
from tests.conftest import wait_for
from tests.processes import Server

HOSTILE = '<script>window.injected = true</script><img src=x onerror="window.injected = true">'


def run_ended(server: Server, run_id: str) -> bool:
    return server.request("GET", f"/api/v1/runs/{run_id}")[1]["status"] in ("success", "failed")


def task_page(page: Page, server: Server, repo: Path, project_id: str) -> None:
    """A project with task t1 (its run over), its task page open and following the bus."""
    created(server, "/api/projects", {"project_id": project_id, "project_root": str(repo)})
    body = {"project_id": project_id, "task_id": "t1", "agent_type": "shell", "prompt": "true"}
    run_id = created(server, "/api/v1/tasks", body)["run_id"]
    wait_for(partial(run_ended, server, run_id), 30, "the task's run to end")
    page.goto(url(server, f"/ui/projects/{project_id}/tasks/t1/"))
    expect(page.locator("#bus")).to_have_attribute("data-following", "live")
    page.evaluate("window.notReloaded = true")


def message(page: Page, body: str) -> Any:
    return page.locator("#bus article.message").filter(has_text=body)


def answer_in_box(page: Page, question: Any, msg_id: str, text: str) -> None:
    """Answer an open question from its box: it loses its highlight and its box, and the
    answer shows among its thread's replies."""
    question.locator(".bus-reply textarea").fill(text)
    question.locator(".bus-reply button[type=submit]").click()
    expect(question).to_have_class("message")
    expect(question.locator(".bus-reply")).to_have_count(0)
    thread = page.locator(f'#bus .thread[data-root="{msg_id}"]')
    expect(thread.locator(".replies")).to_contain_text(text)


def test_messages_arrive_live_and_the_post_box_appends(
    page: Page, server: Server, git_repo: Path
) -> None:
    task_page(page, server, git_repo, "chat")
    bus = {"project_id": "chat", "task_id": "t1"}
    fact = created(server, "/api/v1/messages", {**bus, "type": "FACT", "body": "tests pass"})
    expect(message(page, "tests pass")).to_have_attribute("data-type", "FACT")

    created(server, "/api/v1/messages", {**bus, "body": "noted", "parents": [fact["msg_id"]]})
    thread = page.locator(f'#bus .thread[data-root="{fact["msg_id"]}"]')
    expect(thread.locator(".replies article.message")).to_have_text([re.compile("noted")])

    page.fill("#bus .bus-post [name=type]", "DECISION")
    page.fill("#bus .bus-post [name=body]", "Go with plan B")
    page.click("#bus .bus-post button[type=submit]")
    expect(message(page, "Go with plan B")).to_have_attribute("data-type", "DECISION")
    expect(page.locator("#bus .bus-post [name=body]")).to_have_value("")
    listed = server.request("GET", "/api/projects/chat/tasks/t1/messages")[1]["messages"]
    assert [m["body"] for m in listed][-1] == "Go with plan B"

    page.fill("#bus .bus-post [name=body]", "   ")
    page.click("#bus .bus-post button[type=submit]")
    expect(page.locator("#bus .bus-post .bus-error")).to_contain_text("body")
    assert page.evaluate("window.notReloaded") is True


def test_a_post_the_server_does_not_answer_is_said_and_its_text_kept(
    page: Page, server: Server, git_repo: Path
) -> None:
    task_page(page, server, git_repo, "unanswered")
    page.route("**/ui/api/v1/messages", lambda route: route.abort())  # the connection lost
    box = page.locator("#bus .bus-post")
    box.locator("[name=body]").fill("still here")
    box.locator("button[type=submit]").click()

    expect(box.locator(".bus-error")).to_contain_text("the server did not answer")
    expect(box.locator("[name=body]")).to_have_value("still here")
    page.unroute("**/ui/api/v1/messages")
    box.locator("button[type=submit]").click()
    expect(message(page, "still here")).to_be_visible()
    expect(box.locator(".bus-error")).to_be_hidden()


def test_a_question_is_answered_from_its_box_and_loses_its_highlight(
    page: Page, server: Server, git_repo: Path
) -> None:
    task_page(page, server, git_repo, "asked")
    body = {"project_id": "asked", "task_id": "t1", "type": "QUESTION", "body": "Which DB?"}
    asked = created(server, "/api/v1/messages", body)
    question = message(page, "Which DB?")
    expect(question).to_have_class("message question-open")
    page.locator("#bus .bus-post").scroll_into_view_if_needed()
    screenshot(page, "task-messages-question")

    answer_in_box(page, question, asked["msg_id"], "PostgreSQL")

    status, task = server.request("GET", "/api/v1/tasks/t1?project_id=asked")
    assert status == 200, task
    listed = server.request("GET", "/api/projects/asked/tasks/t1/messages")[1]["messages"]
    assert listed[-1]["parents"] == [asked["msg_id"]] and listed[-1]["body"] == "PostgreSQL"


def test_an_open_question_is_highlighted_on_load_and_earlier_pages_join_their_threads(
    page: Page, server: Server, git_repo: Path
) -> None:
    created(server, "/api/projects", {"project_id": "paged", "project_root": str(git_repo)})
    bus = {"project_id": "paged", "task_id": "t1"}
    asked = created(server, "/api/v1/messages", {**bus, "type": "QUESTION", "body": "Old Q?"})
    for n in range(55):
        created(server, "/api/v1/messages", {**bus, "body": f"filler {n}"})
    created(server, "/api/v1/messages", {**bus, "body": "late reply", "parents": [asked["msg_id"]]})
    created(server, "/api/v1/messages", {**bus, "type": "QUESTION", "body": "New Q?"})

    page.goto(url(server, "/ui/projects/paged/tasks/t1/"))
    expect(message(page, "New Q?")).to_have_class("message question-open")
    expect(page.locator("#bus article.message")).to_have_count(50)
    expect(message(page, "Old Q?")).to_have_count(0)

    page.click("#bus .bus-earlier")
    expect(page.locator("#bus article.message")).to_have_count(58)
    expect(page.locator("#bus .bus-earlier")).to_be_hidden()
    old = page.locator(f'#bus .thread[data-root="{asked["msg_id"]}"]')
    expect(old.locator(".replies")).to_contain_text("late reply")
    expect(message(page, "Old Q?")).to_have_class("message")
    expect(page.locator("#bus .bus-threads > .thread").last).to_contain_text("New Q?")


def test_a_hostile_body_is_shown_as_text(page: Page, server: Server, git_repo: Path) -> None:
    task_page(page, server, git_repo, "hostile")
    created(server, "/api/v1/messages", {"project_id": "hostile", "task_id": "t1", "body": HOSTILE})
    body = message(page, "window.injected").locator(".message-body")
    expect(body).to_have_text(HOSTILE)
    assert body.locator("script, img").count() == 0
    assert page.evaluate("window.injected === undefined") is True


def test_the_project_bus_page_merges_its_tasks_and_answers_on_the_task_bus(
    page: Page, server: Server, git_repo: Path
) -> None:
    task_page(page, server, git_repo, "merged")
    page.click("text=merged")  # the breadcrumb, to the board
    page.click("a.button:text('Messages')")
    expect(page.locator("#bus")).to_have_attribute("data-following", "live")
    question = {"project_id": "merged", "task_id": "t1", "type": "QUESTION", "body": "Ship it?"}
    asked = created(server, "/api/v1/messages", question)
    created(server, "/api/v1/messages", {"project_id": "merged", "body": "project-wide note"})
    expect(message(page, "Ship it?")).to_have_class("message question-open")
    expect(message(page, "Ship it?")).to_contain_text("t1")
    expect(message(page, "project-wide note")).to_have_count(1)

    message(page, "Ship it?").locator(".bus-reply textarea").fill("Yes")
    message(page, "Ship it?").locator(".bus-reply button[type=submit]").click()

    expect(message(page, "Ship it?")).to_have_class("message")
    listed = server.request("GET", "/api/projects/merged/tasks/t1/messages")[1]["messages"]
    assert listed[-1]["parents"] == [asked["msg_id"]]
    project_wide = {"project_id": "merged", "type": "QUESTION", "body": "Freeze on Friday?"}
    created(server, "/api/v1/messages", project_wide)
    expect(message(page, "Freeze on Friday?")).to_have_class("message question-open")
    message(page, "Freeze on Friday?").locator(".bus-reply button").scroll_into_view_if_needed()
    screenshot(page, "project-messages")


def test_a_project_bus_question_is_highlighted_and_answered_on_the_project_page(
    page: Page, server: Server, git_repo: Path
) -> None:
    created(server, "/api/projects", {"project_id": "town", "project_root": str(git_repo)})
    question = {"project_id": "town", "type": "QUESTION"}
    earlier = created(server, "/api/v1/messages", {**question, "body": "Who reviews?"})
    page.goto(url(server, "/ui/projects/town/messages/"))
    expect(page.locator("#bus")).to_have_attribute("data-following", "live")
    expect(message(page, "Who reviews?")).to_have_class("message question-open")
    page.evaluate("window.notReloaded = true")

    asked = created(server, "/api/v1/messages", {**question, "body": "Freeze on Friday?"})
    live = message(page, "Freeze on Friday?")
    expect(live).to_have_class("message question-open")
    answer_in_box(page, live, asked["msg_id"], "Yes, from noon")
    reply = {"project_id": "town", "body": "Ada", "parents": [earlier["msg_id"]]}
    created(server, "/api/v1/messages", reply)  # another client answers the first one
    expect(message(page, "Who reviews?")).to_have_class("message")
    assert page.evaluate("window.notReloaded") is True

    listed = server.request("GET", "/api/projects/town/messages")[1]["messages"]
    answer = next(item for item in listed if item["body"] == "Yes, from noon")
    assert (answer["task_id"], answer["parents"]) == (None, [asked["msg_id"]])
    page.reload()
    expect(page.locator("#bus article.message")).to_have_count(4)
    expect(page.locator("#bus .question-open")).to_have_count(0)
