"""The project form's folder picker in a real Chromium: browse the allowed folders with the
mouse and the keyboard, see the git repositories found below, pick one to fill the
repository folder (and the id), and read a refusal for a folder outside the roots."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.processes import Server


def repository(folder: Path) -> Path:
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    (folder / "README.md").write_text("# app\n")
    subprocess.run(["git", "-C", str(folder), "add", "."], check=True)
    commit = ["git", "-C", str(folder), "-c", "user.name=Dev", "-c", "user.email=d@x"]
    subprocess.run([*commit, "commit", "-qm", "initial"], check=True)
    return folder


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """code/apps/alpha and code/apps/beta are repositories; code/notes is a plain folder."""
    root = tmp_path_factory.mktemp("picker").resolve() / "code"
    repository(root / "apps" / "alpha")
    repository(root / "apps" / "beta")
    (root / "notes").mkdir()
    return root


@pytest.fixture(scope="module")
def picking_server(code: Path) -> Iterator[Server]:
    home = code.parent / "home"
    home.mkdir()
    started = Server(
        code.parent / "data",
        code.parent / "server.log",
        CONDUCTOR_BROWSE_ROOTS=str(code),
        HOME=str(home),
    )
    yield started
    started.terminate()


def test_a_repository_is_picked_by_browsing_with_mouse_and_keyboard(
    page: Page, picking_server: Server, code: Path
) -> None:
    page.goto(f"http://127.0.0.1:{picking_server.port}/ui/projects/new/")
    picker = page.locator("#folder-picker")
    expect(picker).to_be_visible()
    page.get_by_label("Start at").select_option(str(code))
    expect(picker.locator(".picker-path")).to_have_text(str(code))
    repos = picker.get_by_role("list", name="Git repositories in this folder and below")
    expect(repos.locator(".mono")).to_have_text([str(code / "apps/alpha"), str(code / "apps/beta")])

    picker.get_by_role("button", name="apps/", exact=True).click()  # into a folder with the mouse
    expect(picker.locator(".picker-path")).to_have_text(str(code / "apps"))
    expect(picker.get_by_role("button", name="alpha/", exact=True)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(picker.get_by_role("button", name="beta/", exact=True)).to_be_focused()
    page.keyboard.press("Backspace")  # up again, with the keyboard
    expect(picker.locator(".picker-path")).to_have_text(str(code))
    expect(picker.get_by_role("button", name="apps/", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(picker.locator(".picker-path")).to_have_text(str(code / "apps"))
    screenshot(page, "project-folder-picker")

    folders = picker.get_by_role("list", name="Folders")
    folders.get_by_role("button", name=f"Use {code / 'apps/beta'}").click()
    expect(page.get_by_label("Repository folder", exact=True)).to_have_value(
        str(code / "apps/beta")
    )
    expect(page.get_by_label("Repository folder", exact=True)).to_be_focused()
    expect(page.get_by_label("Project id")).to_have_value("beta")
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("beta")
    status, made = picking_server.request("GET", "/api/projects/beta")
    assert status == 200 and made["project_root"] == str(code / "apps/beta")


def test_a_folder_outside_the_roots_is_refused_readably_and_typing_still_works(
    page: Page, picking_server: Server, code: Path
) -> None:
    page.goto(f"http://127.0.0.1:{picking_server.port}/ui/projects/new/")
    picker = page.locator("#folder-picker")
    page.get_by_label("Repository folder", exact=True).fill("/etc")
    picker.get_by_role("button", name="Browse the typed folder").click()

    alert = picker.get_by_role("alert")
    expect(alert).to_contain_text("/etc is outside the folders Conductor may browse")
    expect(alert).to_contain_text(f"Folders you may browse: {code.parent / 'home'}, {code}")

    page.get_by_label("Project id").fill("typed")
    page.get_by_label("Repository folder", exact=True).fill(str(code / "apps/alpha"))
    picker.get_by_role("button", name="Browse the typed folder").click()
    expect(alert).to_be_hidden()
    expect(picker.locator(".picker-path")).to_have_text(str(code / "apps/alpha"))
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("typed")
