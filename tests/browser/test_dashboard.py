"""The dashboard in a real Chromium: sign-in only when auth is on, a project made from the
form, a task made on the board and dragged to another column, a move the server does not
answer said and the board read again, a run stopped from Now."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Dialog, Page, expect

from tests.browser.conftest import created, screenshot, url
from tests.conftest import wait_for
from tests.processes import Server


def run_status(server: Server, run_id: str) -> str:
    return str(server.request("GET", f"/api/v1/runs/{run_id}")[1]["status"])


def test_the_default_loopback_setup_asks_for_no_sign_in(page: Page, server: Server) -> None:
    page.goto(url(server, "/ui/now/"))

    expect(page).to_have_url(url(server, "/ui/now/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Now")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_with_a_key_the_first_user_is_made_then_everyone_signs_in(
    browser: Browser, tmp_path: Path
) -> None:
    server = Server(tmp_path / "data", tmp_path / "server.log", CONDUCTOR_API_KEY="ui-key")
    try:
        first = browser.new_page()
        first.goto(url(server, "/ui/"))
        expect(first).to_have_url(url(server, "/ui/first-run/"))
        first.fill('input[name="username"]', "ada")
        first.fill('input[name="password1"]', "a long pass phrase")
        first.fill('input[name="password2"]', "a long pass phrase")
        first.get_by_role("button", name="Create and sign in").click()
        expect(first.get_by_role("heading", level=1)).to_have_text("Projects")
        expect(first.get_by_role("button", name="Sign out")).to_be_visible()

        second = browser.new_context().new_page()
        second.goto(url(server, "/ui/now/"))
        expect(second).to_have_url(url(server, "/ui/sign-in/?next=/ui/now/"))
        second.fill('input[name="username"]', "ada")
        second.fill('input[name="password"]', "wrong")
        second.get_by_role("button", name="Sign in").click()
        expect(second.get_by_role("alert")).to_contain_text("correct username and password")
        second.fill('input[name="password"]', "a long pass phrase")
        second.get_by_role("button", name="Sign in").click()
        expect(second).to_have_url(url(server, "/ui/now/"))
        expect(second.get_by_role("heading", level=1)).to_have_text("Now")
    finally:
        server.terminate()


def test_a_project_is_made_from_the_form_and_its_errors_are_shown(
    page: Page, server: Server, git_repo: Path
) -> None:
    page.goto(url(server, "/ui/"))
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Project id").fill("from-form")
    page.get_by_label("Repository folder").fill("relative/repo")
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("alert")).to_contain_text("must be an absolute path")
    page.get_by_label("Repository folder").fill(str(git_repo))
    page.get_by_role("button", name="Create project").click()

    expect(page).to_have_url(url(server, "/ui/projects/from-form/"))
    expect(page.get_by_role("status")).to_contain_text("Project from-form created.")
    page.get_by_role("link", name="Projects", exact=True).click()
    row = page.locator("tr", has=page.get_by_role("link", name="from-form"))
    expect(row.locator("td").last).to_have_text(re.compile(r"^0\sbytes$"))  # the stored sum
    screenshot(page, "projects")


def test_a_task_made_on_the_board_is_dragged_to_another_column(
    page: Page, server: Server, git_repo: Path
) -> None:
    created(server, "/api/projects", {"project_id": "drag", "project_root": str(git_repo)})
    page.goto(url(server, "/ui/projects/drag/"))
    page.get_by_text("New task").click()
    page.get_by_label("Title").fill("Say hello")
    page.get_by_label("Prompt").fill("echo hello")
    page.get_by_label("Agent").select_option("shell")
    page.get_by_role("button", name="Create and start").click()

    card = page.locator(".card", has_text="Say hello")
    expect(page.locator('[data-column="todo"] .card', has_text="Say hello")).to_be_visible()
    # The agent's run ends before the drag. A column read while the card is held waits for
    # the drop (test_live_board.py), but under load Playwright's emulated native drag missed
    # a dragstart that came late once the run's end reached the page: the card stayed
    # chosen, never dropped, and no move was sent.
    wait_for(
        lambda: (
            server.request("GET", "/api/v1/tasks?project_id=drag")[1]["tasks"][0]["status"]
            == "completed"
        )
    )
    expect(card.locator(".badge")).to_have_count(0)
    with page.expect_response(lambda response: "/move/" in response.url) as move:
        card.drag_to(page.locator('[data-column="inreview"]'))
    assert move.value.status == 204
    expect(page.locator("#column-inreview .count")).to_have_text("1")
    expect(page.locator("#column-todo .count")).to_have_text("0")

    page.reload()
    expect(page.locator('[data-column="inreview"] .card', has_text="Say hello")).to_be_visible()
    expect(page.locator('[data-column="todo"] .card')).to_have_count(0)
    screenshot(page, "board")


def test_a_run_is_stopped_from_now(page: Page, server: Server) -> None:
    task = {"project_id": "now", "task_id": "sleeper", "agent_type": "shell"}
    run_id = created(server, "/api/v1/tasks", {**task, "prompt": "sleep 600"})["run_id"]
    wait_for(lambda: run_status(server, run_id) == "running", 60, "the run to start")

    page.goto(url(server, "/ui/now/"))
    screenshot(page, "now")
    page.locator(f'tr[data-run="{run_id}"]').get_by_role("button", name="Stop").click()

    expect(page.get_by_role("status")).to_contain_text(f"Stop sent to {run_id}")
    wait_for(lambda: run_status(server, run_id) == "stopped", 60, "the run to stop")
    page.reload()
    expect(page.locator(f'tr[data-run="{run_id}"]')).to_have_count(0)


def test_a_card_moves_with_the_keyboard(page: Page, server: Server, git_repo: Path) -> None:
    created(server, "/api/projects", {"project_id": "keys", "project_root": str(git_repo)})
    for task_id in ("first", "second"):
        body = {"project_id": "keys", "task_id": task_id, "agent_type": "shell"}
        created(server, "/api/v1/tasks", {**body, "prompt": "true"})
    page.goto(url(server, "/ui/projects/keys/"))

    cards = page.locator(".card")
    for key, column, order in [
        ("Alt+ArrowUp", "todo", ["second", "first"]),
        ("Alt+ArrowRight", "inprogress", ["second"]),
    ]:
        page.locator('.card[data-task="second"]').focus()
        with page.expect_response(lambda response: "/move/" in response.url) as move:
            page.keyboard.press(key)
        assert move.value.status == 204

        page.reload()
        column_cards = page.locator(f'[data-column="{column}"] .card')
        expect(column_cards).to_have_count(len(order))
        assert [column_cards.nth(i).get_attribute("data-task") for i in range(len(order))] == order
    expect(cards).to_have_count(2)


def test_a_move_the_server_does_not_answer_is_said_and_the_board_read_again(
    page: Page, server: Server, git_repo: Path
) -> None:
    created(server, "/api/projects", {"project_id": "unmoved", "project_root": str(git_repo)})
    body = {"project_id": "unmoved", "task_id": "only", "agent_type": "shell", "prompt": "true"}
    created(server, "/api/v1/tasks", body)
    page.goto(url(server, "/ui/projects/unmoved/"))
    page.route("**/move/", lambda route: route.abort())  # the connection lost
    said: list[str] = []

    def answer(dialog: Dialog) -> None:
        said.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator('.card[data-task="only"]').focus()
    with page.expect_navigation():  # the board is read again
        page.keyboard.press("Alt+ArrowRight")

    assert len(said) == 1 and said[0].startswith("The move was refused: the server did not answer")
    expect(page.locator('[data-column="todo"] .card[data-task="only"]')).to_be_visible()
