"""The board's task form in a real Chromium: a `@tag` completed with the keyboard, an image,
a dependency and a base branch, started at once; an error that keeps every input (the chosen
image too); the board at a phone's width; the dark theme."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import created, screenshot, url
from tests.conftest import wait_for
from tests.processes import Server
from tests.tasks.test_images import png


def finished_task(server: Server, project: str, task_id: str) -> None:
    body = {"project_id": project, "task_id": task_id, "agent_type": "shell", "prompt": "true"}
    run_id = created(server, "/api/v1/tasks", body)["run_id"]
    wait_for(
        lambda: server.request("GET", f"/api/v1/runs/{run_id}")[1]["status"] == "success",
        60,
        f"{task_id} to complete",
    )


def task_of(server: Server, project: str, task_id: str) -> dict:
    status, task = server.request("GET", f"/api/projects/{project}/tasks/{task_id}")
    assert status == 200, task
    return dict(task)


def ended_runs(server: Server, project: str, task_id: str) -> list[dict]:
    runs = task_of(server, project, task_id)["runs"]
    if any(run["status"] in ("queued", "running") for run in runs):
        return []
    return [{"status": run["status"], "exit_code": run["exit_code"]} for run in runs]


def test_a_task_with_a_completed_tag_an_image_and_a_dependency_starts_at_once(
    page: Page, server: Server, git_repo: Path, tmp_path: Path
) -> None:
    created(server, "/api/projects", {"project_id": "form", "project_root": str(git_repo)})
    created(server, "/api/v1/tags", {"name": "greet", "content": "exit 0"})
    created(server, "/api/v1/tags", {"name": "grumble", "content": "exit 4"})
    finished_task(server, "form", "before")
    (tmp_path / "shot.png").write_bytes(png())

    page.goto(url(server, "/ui/projects/form/"))
    page.get_by_text("New task").click()
    page.get_by_label("Title").fill("Greet with a picture")
    prompt = page.get_by_label("Prompt")
    prompt.press_sequentially("@gr")
    options = page.get_by_role("listbox", name="Tags").get_by_role("option")
    expect(options).to_have_count(2)
    expect(prompt).to_have_attribute("aria-expanded", "true")
    screenshot(page, "task-form-tags")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    expect(options.first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(prompt).to_have_value("@greet ")
    expect(page.get_by_role("listbox", name="Tags")).to_be_hidden()
    prompt.press("End")
    prompt.press_sequentially("\nexit 3")  # reached only if @greet were not expanded
    page.get_by_label("Images").set_input_files(tmp_path / "shot.png")
    page.get_by_label("Agent or profile").select_option("shell")
    page.get_by_label("Base branch").select_option("main")
    page.get_by_label("Depends on").select_option("before")
    page.get_by_label("Task id").fill("pictured")
    page.get_by_role("button", name="Create and start").click()

    expect(page.get_by_role("status")).to_contain_text("Task pictured")
    task = task_of(server, "form", "pictured")
    assert task["depends_on"] == ["before"]
    attempt = server.request("GET", f"/api/v1/attempts/{task['attempt_ids'][0]}")[1]
    assert attempt["base_branch"] == "main"
    images = server.request("GET", "/api/v1/images?project_id=form&task_id=pictured")[1]
    assert [image["original_name"] for image in images["items"]] == ["shot.png"]
    ended = wait_for(lambda: ended_runs(server, "form", "pictured"), 60, "the run to end")
    assert ended == [{"status": "completed", "exit_code": 0}]  # `@greet` became `exit 0`


def test_an_error_keeps_every_input_and_the_chosen_image(
    page: Page, server: Server, git_repo: Path, tmp_path: Path
) -> None:
    created(server, "/api/projects", {"project_id": "keep", "project_root": str(git_repo)})
    finished_task(server, "keep", "earlier")
    (tmp_path / "keep.png").write_bytes(png())
    page.goto(url(server, "/ui/projects/keep/"))
    page.get_by_text("New task").click()
    page.get_by_label("Title").fill("Kept")
    page.get_by_label("Prompt").fill("true\n# second line")
    page.get_by_label("Images").set_input_files(tmp_path / "keep.png")
    page.get_by_label("Agent or profile").select_option("shell")
    page.get_by_label("Depends on").select_option("earlier")
    page.get_by_label("Task id").fill("not an id")
    page.get_by_role("button", name="Save for later").click()

    error = page.locator("#id_task_id_errors")
    expect(error).to_contain_text("must be 1-128 characters")
    expect(page.get_by_label("Title")).to_have_value("Kept")
    expect(page.get_by_label("Prompt")).to_have_value("true\n# second line")
    expect(page.get_by_label("Depends on")).to_have_values(["earlier"])
    assert page.get_by_label("Images").evaluate("input => input.files[0].name") == "keep.png"
    screenshot(page, "task-form-error")

    page.get_by_label("Task id").fill("kept")
    page.get_by_role("button", name="Save for later").click()
    expect(page.get_by_role("status")).to_contain_text("Task kept saved for later.")
    task = task_of(server, "keep", "kept")
    assert task["depends_on"] == ["earlier"] and task["runs"] == [] and task["attempt_ids"] == []
    images = server.request("GET", "/api/v1/images?project_id=keep&task_id=kept")[1]
    assert [image["original_name"] for image in images["items"]] == ["keep.png"]
    expect(page.locator('[data-column="todo"] .card[data-task="kept"]')).to_be_visible()


def test_at_a_phone_width_the_columns_scroll_and_the_form_fits(
    browser: Browser, server: Server, git_repo: Path
) -> None:
    created(server, "/api/projects", {"project_id": "phone", "project_root": str(git_repo)})
    finished_task(server, "phone", "small")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(url(server, "/ui/projects/phone/"))
        board = page.locator("#board")
        expect(board.locator(".card")).to_have_count(1)
        assert board.evaluate("b => b.scrollWidth > b.clientWidth")  # the columns scroll
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "board-phone")
        page.get_by_text("New task").click()
        prompt = page.get_by_label("Prompt").bounding_box()
        assert prompt is not None and prompt["x"] >= 0 and prompt["x"] + prompt["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "task-form-phone")
    finally:
        context.close()


def test_the_theme_follows_the_system(browser: Browser, server: Server) -> None:
    backgrounds = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        page.goto(url(server, "/ui/"))
        backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        if scheme == "dark":
            screenshot(page, "projects-dark")
        context.close()

    assert backgrounds == {"light": "rgb(247, 247, 245)", "dark": "rgb(22, 24, 27)"}
