"""Issue 11's done-means in one pass, in a real Chromium against a real server: from the
root, with no API call and no docs, a newcomer makes a project on their repository, writes a
task for a `shell` agent, watches its run end, reviews its diff and merges it; the
repository's main then holds the agent's change."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.test_attempt_review import confirm
from tests.helpers import git_cli
from tests.processes import Server


def test_a_newcomer_gets_an_agent_to_change_the_repository_reviews_and_merges(
    page: Page, server: Server, git_repo: Path
) -> None:
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Project id").fill("mine")
    page.get_by_label("Repository folder").fill(str(git_repo))
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("status")).to_contain_text("Project mine created.")

    page.get_by_text("New task").click()
    page.get_by_label("Title").fill("Add a greeting")
    page.get_by_label("Prompt").fill("echo 'hello from the agent' > greeting.txt")
    page.get_by_label("Agent").select_option("shell")
    page.get_by_role("button", name="Create and start").click()

    page.locator(".card", has_text="Add a greeting").locator("a.title").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Add a greeting")
    page.locator("[data-attempt] a").first.click()
    expect(page.locator("#attempt-status")).to_have_text("success")

    page.get_by_role("link", name="Review & merge").click()
    tree = page.get_by_role("navigation", name="Changed files")
    expect(tree.locator('li.file[data-path="greeting.txt"]').get_by_label("added")).to_be_visible()
    added = page.locator('.diff-file[data-path="greeting.txt"] .d2h-ins .d2h-code-line-ctn')
    expect(added).to_have_text("hello from the agent")
    confirm(page, "Merge…")
    expect(page.get_by_role("status")).to_contain_text("Merged into main as")

    assert git_cli(git_repo, "show", "main:greeting.txt") == "hello from the agent\n"
    assert git_cli(git_repo, "status", "--porcelain") == ""  # the user's checkout untouched
