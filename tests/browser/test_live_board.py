"""The dashboard, live, in a real Chromium: a second page sees a task made and moved through
the API without a reload, a failed run brings a toast and the title's count, the board's
search narrows the columns, the Agents page's test button runs a one-line prompt, a column
read answered while a card is held waits for the drop, and Now shows a run started elsewhere
and drops it when it ends."""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path

from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import created, screenshot, url
from tests.conftest import wait_for
from tests.processes import Server


def project(server: Server, project_id: str, repo: Path) -> None:
    created(server, "/api/projects", {"project_id": project_id, "project_root": str(repo)})


def task(server: Server, project_id: str, task_id: str, prompt: str) -> None:
    body = {"project_id": project_id, "task_id": task_id, "agent_type": "shell", "prompt": prompt}
    created(server, "/api/v1/tasks", body)


class HeldReads:
    """The page's reads of a board column, held (Playwright's route) while `holding`, for the
    test to answer when it chooses; once not, the next ones go through."""

    def __init__(self, page: Page, column: str) -> None:
        self.held: list[Route] = []
        self.holding = True
        page.route(f"**/columns/{column}/**", self._hold)

    def _hold(self, route: Route) -> None:
        if self.holding:
            self.held.append(route)
        else:
            route.continue_()


def test_a_second_page_sees_a_task_made_and_moved_without_reload(
    page: Page, server: Server, git_repo: Path
) -> None:
    project(server, "live", git_repo)
    page.goto(url(server, "/ui/projects/live/"))
    page.evaluate("window.notReloaded = true")

    task(server, "live", "arrives", "echo made elsewhere")
    card = page.locator('[data-column="todo"] .card[data-task="arrives"]')
    expect(card).to_contain_text("echo made elsewhere")
    expect(page.locator("#column-todo .count")).to_have_text("1")

    status, moved = server.request(
        "POST", "/api/v1/tasks/arrives/move?project_id=live", {"column": "inreview"}
    )
    assert status == 200, moved
    expect(page.locator('[data-column="inreview"] .card[data-task="arrives"]')).to_be_visible()
    expect(page.locator('[data-column="todo"] .card')).to_have_count(0)
    expect(page.locator("#column-inreview .count")).to_have_text("1")
    expect(page.locator("#column-todo .count")).to_have_text("0")
    assert page.evaluate("window.notReloaded") is True

    other = page.context.new_page()  # a second tab drags it back to To do
    other.goto(url(server, "/ui/projects/live/"))
    with other.expect_response(lambda response: "/move/" in response.url):
        other.locator('.card[data-task="arrives"]').drag_to(other.locator('[data-column="todo"]'))
    expect(page.locator('[data-column="todo"] .card[data-task="arrives"]')).to_be_visible()
    expect(page.locator("#column-inreview .count")).to_have_text("0")
    assert page.evaluate("window.notReloaded") is True


def test_a_failed_run_shows_a_toast_and_counts_in_the_title(
    page: Page, server: Server, git_repo: Path
) -> None:
    project(server, "toasts", git_repo)
    page.goto(url(server, "/ui/projects/toasts/"))
    expect(page.locator('#toasts[data-following="events"]')).to_be_attached()

    task(server, "toasts", "breaks", "echo about to fail; exit 3")
    toast = page.locator(".toast.failed")
    expect(toast).to_contain_text("toasts/breaks failed")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    badge = page.locator('.card[data-task="breaks"] .badge.failed')
    expect(badge).to_be_visible()
    screenshot(page, "board-live")

    toast.get_by_role("button", name="Dismiss").click()
    expect(page.locator(".toast")).to_have_count(0)
    expect(page).not_to_have_title(re.compile(r"^\("))


def test_a_run_that_ends_before_its_new_card_is_shown_is_read_again(
    page: Page, server: Server, git_repo: Path, tmp_path: Path
) -> None:
    """A task made elsewhere has no card until its column's read lands; its run's changes
    meanwhile name a task the board does not show. They read the column its task.changed
    named, once the read out lands: else the card stayed "running" after its run failed
    (CI saw it beside the stats bar counting the failure)."""
    project(server, "ends", git_repo)
    page.goto(url(server, "/ui/projects/ends/"))
    expect(page.locator('#toasts[data-following="events"]')).to_be_attached()
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    reads = HeldReads(page, "todo")
    with page.expect_request(lambda request: "/columns/todo/" in request.url) as first:
        task(server, "ends", "breaks", f"read line < {gate}; exit 3")
    old = page.request.get(first.value.url)  # what the first read is answered: not failed
    assert 'data-task="breaks"' in old.text() and "failed" not in old.text()
    gate.write_text("go\n")  # the run fails while that read is out
    expect(page.locator(".toast.failed")).to_contain_text("ends/breaks failed")
    expect(page.locator('#board-stats [data-stat="failed"] strong')).to_have_text("1")

    reads.holding = False
    with page.expect_response(lambda response: "/columns/todo/" in response.url) as read:
        reads.held[0].fulfill(response=old)
    read.value.finished()
    expect(page.locator('.card[data-task="breaks"] .badge.failed')).to_be_visible()


def test_search_and_filters_narrow_the_board(page: Page, server: Server, git_repo: Path) -> None:
    project(server, "search", git_repo)
    task(server, "search", "alpha", "echo fix the login page")
    task(server, "search", "beta", "echo write the docs")
    task(server, "search", "gamma", "true\n# needle-in-the-prompt")
    page.goto(url(server, "/ui/projects/search/"))
    expect(page.locator(".card")).to_have_count(3)

    page.get_by_role("searchbox", name="Search").fill("login")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"q=login"))
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card")).to_contain_text("echo fix the login page")
    expect(page.locator("#column-todo .count")).to_have_text("1")

    page.get_by_role("searchbox", name="Search").fill("NEEDLE")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator('.card[data-task="gamma"]')).to_be_visible()

    page.get_by_role("link", name="Clear").click()
    expect(page.locator(".card")).to_have_count(3)


def test_the_agent_test_button_runs_a_prompt_and_names_a_missing_cli(
    page: Page, server: Server
) -> None:
    page.goto(url(server, "/ui/agents/new/"))
    page.get_by_label("Name").fill("ghost-cli")
    page.get_by_label("Agent type").select_option("custom")
    page.get_by_label("Command").fill("no-such-agent-cli {prompt}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Agents")

    page.get_by_label("Agent or profile").select_option("shell")
    page.get_by_label("One-line prompt").fill("echo hello from the test button")
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#agent-test-result")
    expect(result.locator(".trial-stdout")).to_have_text("hello from the test button\n")
    expect(result.locator(".trial-exit")).to_have_text("0")
    screenshot(page, "agents")

    page.get_by_label("Agent or profile").select_option("ghost-cli")
    page.get_by_role("button", name="Run test").click()
    expect(result.locator(".trial-error")).to_contain_text("not found on PATH")
    expect(result.locator(".trial-error")).to_contain_text("no-such-agent-cli")

    page.get_by_label("Agent or profile").select_option("custom")
    page.get_by_role("button", name="Run test").click()
    expect(result.locator(".trial-error")).to_contain_text("needs an agent profile with a command")


def test_a_question_from_an_agent_shows_a_toast_but_not_an_older_one(
    page: Page, server: Server, git_repo: Path
) -> None:
    project(server, "asks", git_repo)
    task(server, "asks", "curious", "true")
    old = {"project_id": "asks", "task_id": "curious", "type": "QUESTION", "body": "old one?"}
    created(server, "/api/v1/messages", old)
    with page.expect_response(lambda response: "/messages/newest/" in response.url):
        page.goto(url(server, "/ui/projects/asks/"))
    page.wait_for_function("document.title.endsWith('Conductor')")

    created(server, "/api/v1/messages", {**old, "type": "FACT", "body": "not a question"})
    created(server, "/api/v1/messages", {**old, "body": "Which database should I use?"})

    toast = page.locator(".toast.question")
    expect(toast).to_contain_text("Question from an agent: Which database should I use?")
    expect(toast).to_have_count(1)
    expect(page.get_by_text("old one?")).to_have_count(0)
    expect(page.get_by_text("not a question")).to_have_count(0)
    expect(toast.get_by_role("link")).to_have_attribute("href", "/ui/projects/asks/tasks/curious/")


def test_browser_notifications_once_allowed(
    browser: Browser, server: Server, git_repo: Path
) -> None:
    project(server, "allowed", git_repo)
    asking = browser.new_context().new_page()
    asking.goto(url(server, "/ui/now/"))
    expect(asking.get_by_role("button", name="Enable notifications")).to_be_visible()
    asking.context.close()

    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=url(server, ""))
    # The browser's own Notification, with a record of what the page showed through it.
    context.add_init_script(
        "const Shown = window.Notification; window.shown = [];"
        "window.Notification = class extends Shown {"
        "  constructor(title, options) { super(title, options); window.shown.push(options.body); }"
        "};"
    )
    page = context.new_page()
    page.goto(url(server, "/ui/now/"))
    expect(page.locator('#toasts[data-following="events"]')).to_be_attached()
    expect(page.get_by_role("button", name="Enable notifications")).to_have_count(0)

    task(server, "allowed", "done-well", "echo fine")
    expect(page.locator(".toast.finished")).to_contain_text("allowed/done-well finished")
    assert page.evaluate("window.shown") == [page.locator(".toast.finished a").inner_text()]
    context.close()


def test_a_card_moved_with_the_keyboard_keeps_the_focus_when_its_column_is_read_again(
    page: Page, server: Server, git_repo: Path
) -> None:
    project(server, "focus", git_repo)
    task(server, "focus", "mover", "true")
    page.goto(url(server, "/ui/projects/focus/"))
    card = page.locator('.card[data-task="mover"]')
    card.focus()
    card.evaluate("card => { card.dataset.before = 'the live read' }")

    page.keyboard.press("Alt+ArrowRight")

    moved = page.locator('[data-column="inprogress"] .card[data-task="mover"]:not([data-before])')
    expect(moved).to_be_focused()


def succeeded(server: Server, run_id: str) -> bool:
    return bool(server.request("GET", f"/api/v1/runs/{run_id}")[1]["status"] == "success")


def test_a_card_that_did_not_change_stays_the_same_element_when_its_column_is_read_again(
    page: Page, server: Server, git_repo: Path
) -> None:
    """A click or hover on a card is never cut by another card's change in its column."""
    project(server, "kept", git_repo)
    for task_id in ("stays", "leaves"):
        body = {"project_id": "kept", "task_id": task_id, "agent_type": "shell", "prompt": "true"}
        run_id = created(server, "/api/v1/tasks", body)["run_id"]
        wait_for(partial(succeeded, server, run_id))
        move = f"/api/v1/tasks/{task_id}/move?project_id=kept"
        status, moved = server.request("POST", move, {"column": "inreview"})
        assert status == 200, moved
    page.goto(url(server, "/ui/projects/kept/"))
    stays = page.locator('[data-column="inreview"] .card[data-task="stays"]')
    expect(page.locator('[data-column="inreview"] .card')).to_have_count(2)
    stays.evaluate("card => { card.kept = true }")  # a mark on the element, not in the HTML

    move = "/api/v1/tasks/leaves/move?project_id=kept"
    status, moved = server.request("POST", move, {"column": "todo"})
    assert status == 200, moved
    expect(page.locator('[data-column="inreview"] .card')).to_have_count(1)
    assert stays.evaluate("card => card.kept") is True


def test_a_column_read_that_lands_while_a_card_is_held_waits_for_the_drop(
    page: Page, server: Server, git_repo: Path
) -> None:
    """The card pressed is never replaced under the pointer: a read of its column answered
    then (its run's end, a question on its bus) is made again once it is dropped. Replaced,
    the card's drag never started and its move was never sent (CI saw it)."""
    project(server, "held", git_repo)
    body = {"project_id": "held", "task_id": "pressed", "agent_type": "shell", "prompt": "true"}
    wait_for(partial(succeeded, server, created(server, "/api/v1/tasks", body)["run_id"]))
    page.goto(url(server, "/ui/projects/held/"))
    card = page.locator('.card[data-task="pressed"]')
    expect(card).to_be_visible()
    reads = HeldReads(page, "todo")  # until the card is pressed
    question = {"project_id": "held", "task_id": "pressed", "type": "QUESTION", "body": "Which?"}
    with page.expect_request(lambda request: "/columns/todo/" in request.url):
        created(server, "/api/v1/messages", question)  # the card gains a needs-input badge

    card.hover()
    page.mouse.down()
    assert reads.held, "the read of the column was held"
    reads.holding = False
    with page.expect_response(lambda response: "/columns/todo/" in response.url) as read:
        for route in reads.held:
            route.continue_()
    read.value.finished()
    page.evaluate("() => new Promise(resolve => setTimeout(resolve))")  # the page took it
    assert card.locator(".badge.needs-input").count() == 0, "not replaced while pressed"
    box = page.locator('[data-column="inreview"]').bounding_box()
    assert box is not None
    with page.expect_response(lambda response: "/move/" in response.url) as move:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 40, steps=5)
        page.mouse.up()

    assert move.value.status == 204
    moved = page.locator('[data-column="inreview"] .card[data-task="pressed"]')
    expect(moved.locator(".badge.needs-input")).to_be_visible()
    expect(page.locator("#column-todo .count")).to_have_text("0")
    expect(page.locator(".card")).to_have_count(1)


def test_a_column_read_answered_late_never_lands_over_a_newer_one(
    page: Page, server: Server, git_repo: Path
) -> None:
    """One read of a column is out at a time: a change while it is out is read again once it
    lands. Two reads out at once could land in either order, and the older one won: CI saw a
    failed run's card still "running" beside a stats bar counting it failed."""
    project(server, "late", git_repo)
    body = {"project_id": "late", "task_id": "moves", "agent_type": "shell", "prompt": "true"}
    wait_for(partial(succeeded, server, created(server, "/api/v1/tasks", body)["run_id"]))
    page.goto(url(server, "/ui/projects/late/"))
    expect(page.locator('[data-column="todo"] .card[data-task="moves"]')).to_be_visible()
    reads = HeldReads(page, "todo")
    question = {"project_id": "late", "task_id": "moves", "type": "QUESTION", "body": "Which?"}
    with page.expect_request(lambda request: "/columns/todo/" in request.url) as first:
        created(server, "/api/v1/messages", question)
    old = page.request.get(first.value.url)  # what the first read is answered: the card, asked
    assert "needs-input" in old.text()
    status, moved = server.request(
        "POST", "/api/v1/tasks/moves/move?project_id=late", {"column": "inreview"}
    )
    assert status == 200, moved
    expect(page.locator('[data-column="inreview"] .card[data-task="moves"]')).to_be_visible()

    reads.holding = False
    oldest, *newer = reads.held  # the newer reads are answered first, as when the first is slow
    for route in newer:
        with page.expect_response(lambda response: "/columns/todo/" in response.url) as read:
            route.continue_()
        read.value.finished()
    with page.expect_response(lambda response: "/columns/todo/" in response.url) as read:
        oldest.fulfill(response=old)
    read.value.finished()
    page.evaluate("() => new Promise(resolve => setTimeout(resolve))")  # the page took it
    expect(page.locator('[data-column="todo"] .card')).to_have_count(0)
    expect(page.locator(".card")).to_have_count(1)


def test_now_shows_a_run_started_elsewhere_and_drops_it_when_it_ends(
    page: Page, server: Server, git_repo: Path, tmp_path: Path
) -> None:
    project(server, "nowlive", git_repo)
    page.goto(url(server, "/ui/now/"))
    page.evaluate("window.notReloaded = true")
    go = tmp_path / "go"

    task(server, "nowlive", "waits", f"while [ ! -e {go} ]; do sleep 0.05; done")
    row = page.locator("#now tr", has_text="waits")
    expect(row.locator(".badge.running")).to_be_visible()
    expect(row.get_by_role("button", name="Stop")).to_be_visible()
    run_id = row.get_attribute("data-run")
    go.touch()

    expect(page.locator(f'tr[data-run="{run_id}"]')).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
