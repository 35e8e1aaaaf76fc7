"""The attempt review page in a real Chromium, on real repositories and real `shell` agents:
the diff (file tree, modified / added / deleted files, unified and side by side), the branch
status once the target moved, a merge refused with git's message, a rebase stopped on
conflicts then continued or aborted, a squash merge the repository's history shows, and an
action the server does not answer (or answers without JSON) said as such, with a refused diff
stream read once instead and followed anew after each action."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, WebSocketRoute, expect

from tests.browser.conftest import screenshot, url
from tests.conftest import wait_for
from tests.helpers import git_cli
from tests.processes import Server

APP = "def greet():\n    return 'hi'\n"
MINUS = "\N{MINUS SIGN}"  # as the page writes deletions
# A changed line's text in diff2html's table, in either view.
DELETED = ".d2h-del .d2h-code-line-ctn"
ADDED = ".d2h-ins .d2h-code-line-ctn"
CHANGE_APP = "printf 'def greet():\\n    return \"hello\"\\n' > app.py"


HOSTILE_NAME = "<img src=x onerror=window.pwned=1>.txt"
HOSTILE_TEXT = "<script>window.pwned=2</script>"
HOSTILE = f"echo '{HOSTILE_TEXT}' > '{HOSTILE_NAME}'"


def api(server: Server, method: str, path: str, body: Any = None, key: str = "") -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url(server, path), data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{method} {path}: {error.code} {error.read()!r}") from error


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a Python file to change, one to delete, and a README."""
    folder = tmp_path / "repo"
    folder.mkdir()
    git_cli(folder, "init", "-q", "-b", "main")
    git_cli(folder, "config", "user.email", "dev@example.com")
    git_cli(folder, "config", "user.name", "Dev")
    (folder / "README.md").write_text("# demo\n")
    (folder / "app.py").write_text(APP)
    (folder / "docs").mkdir()
    (folder / "docs" / "old.txt").write_text("to be deleted\n")
    git_cli(folder, "add", ".")
    git_cli(folder, "commit", "-qm", "initial")
    return folder


def finished_attempt(
    server: Server, repo: Path, project: str, script: str, key: str = ""
) -> dict[str, Any]:
    """A project on `repo` and a task whose `shell` agent ran `script`, once it succeeded."""
    api(server, "POST", "/api/projects", {"project_id": project, "project_root": str(repo)}, key)
    task = {"project_id": project, "task_id": "t1", "prompt": script}
    api(server, "POST", "/api/v1/tasks", {**task, "agent_type": "shell"}, key)

    def succeeded() -> dict[str, Any] | None:
        attempt = attempt_of(server, project, key)
        return attempt if attempt and attempt["status"] == "success" else None

    return dict(wait_for(succeeded, 60, "the agent to finish"))


def attempt_of(server: Server, project: str, key: str = "") -> dict[str, Any] | None:
    """The attempt of the project's task t1, once it exists."""
    listed = f"/api/v1/attempts?project_id={project}&task_id=t1"
    items = api(server, "GET", listed, key=key)["items"]
    return dict(items[0]) if items else None


def confirm(page: Page, button: str) -> None:
    """Press the action's button, then confirm in the dialog (read it first)."""
    page.get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog).to_be_hidden()


def fact(page: Page, term: str) -> Any:
    return page.locator("#branch-status dt", has_text=term).locator(
        "xpath=following-sibling::dd[1]"
    )


def sign_up(page: Page, server: Server) -> None:
    page.goto(url(server, "/ui/"))
    page.fill('input[name="username"]', "ada")
    page.fill('input[name="password1"]', "a long pass phrase")
    page.fill('input[name="password2"]', "a long pass phrase")
    page.get_by_role("button", name="Create and sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Projects")


def test_the_diff_shows_the_tree_and_each_file_unified_or_side_by_side(
    browser: Browser, repo: Path, tmp_path: Path
) -> None:
    # With an API key set: the page reads the diff with the signed-in session.
    server = Server(tmp_path / "data", tmp_path / "server.log", CONDUCTOR_API_KEY="review-key")
    try:
        script = f"{CHANGE_APP} && echo new > added.txt && rm docs/old.txt"
        attempt = finished_attempt(server, repo, "diffs", script, key="review-key")
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        sign_up(page, server)
        page.goto(url(server, f"/ui/attempts/{attempt['attempt_id']}/review/"))

        tree = page.get_by_role("navigation", name="Changed files")
        for path, kind, counts in [
            ("app.py", "modified", f"+1 {MINUS}1"),
            ("added.txt", "added", f"+1 {MINUS}0"),
            ("docs/old.txt", "deleted", f"+0 {MINUS}1"),
        ]:
            entry = tree.locator(f'li.file[data-path="{path}"]')
            expect(entry.get_by_label(kind)).to_be_visible()
            expect(entry).to_contain_text(counts)
        expect(tree.locator(".dir-name")).to_have_text("docs/")
        expect(page.locator("#diff-totals")).to_have_text(f"3 files changed, +2 {MINUS}2")

        app = page.locator('.diff-file[data-path="app.py"]')
        expect(app.locator(DELETED)).to_have_text("    return 'hi'")
        expect(app.locator(ADDED)).to_have_text('    return "hello"')
        expect(app.locator(".hljs-keyword").first).to_have_text("def")  # highlighted
        expect(page.locator(f'.diff-file[data-path="added.txt"] {ADDED}')).to_have_text("new")
        deleted = page.locator(f'.diff-file[data-path="docs/old.txt"] {DELETED}')
        expect(deleted).to_have_text("to be deleted")
        screenshot(page, "attempt-review")

        page.get_by_label("Side by side").check()
        expect(app.locator(".d2h-file-side-diff")).to_have_count(2)
        expect(app.locator(".d2h-file-side-diff").first).to_contain_text("return 'hi'")
        tree.get_by_role("link", name=re.compile("old.txt")).click()
        expect(
            page.locator('.diff-file[data-path="docs/old.txt"] .d2h-file-side-diff')
        ).to_have_count(2)
        page.reload()  # the view chosen is kept
        expect(page.get_by_label("Side by side")).to_be_checked()
    finally:
        server.terminate()


def test_hostile_names_and_contents_are_shown_as_text(
    page: Page, server: Server, repo: Path
) -> None:
    attempt = finished_attempt(server, repo, "hostile", HOSTILE)
    page.goto(url(server, f"/ui/attempts/{attempt['attempt_id']}/review/"))

    entry = page.get_by_role("navigation", name="Changed files").locator(".file")
    expect(entry).to_have_text(re.compile(re.escape(HOSTILE_NAME)))
    block = page.locator(f'.diff-file[data-path="{HOSTILE_NAME}"]')
    expect(block.locator(ADDED)).to_have_text(HOSTILE_TEXT)
    expect(block.locator(".file-head")).to_contain_text(HOSTILE_NAME)
    assert page.evaluate("window.pwned") is None


def test_the_diff_follows_a_running_agent(
    page: Page, server: Server, repo: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    wait = f"while [ ! -e {release} ]; do sleep 0.05; done"
    script = f"echo one > first.txt; {wait}; echo two > second.txt"
    body = {"project_id": "live", "task_id": "t1", "agent_type": "shell", "prompt": script}
    api(server, "POST", "/api/projects", {"project_id": "live", "project_root": str(repo)})
    api(server, "POST", "/api/v1/tasks", body)
    attempt = wait_for(lambda: attempt_of(server, "live"), 60, "the attempt")
    page.goto(url(server, f"/ui/attempts/{attempt['attempt_id']}/review/"))

    tree = page.get_by_role("navigation", name="Changed files")
    expect(tree.locator('li.file[data-path="first.txt"]')).to_be_visible(timeout=30_000)
    expect(page.locator("#attempt-status")).to_have_text("running")
    release.touch()
    expect(tree.locator('li.file[data-path="second.txt"]')).to_be_visible(timeout=30_000)
    expect(page.locator("#attempt-status")).to_have_text("success", timeout=30_000)


def conflicting(server: Server, repo: Path, project: str) -> dict[str, Any]:
    """An attempt that changed app.py, and the target (main) then changing the same line."""
    attempt = finished_attempt(server, repo, project, CHANGE_APP)
    (repo / "app.py").write_text("def greet():\n    return 'hey'\n")
    git_cli(repo, "commit", "-qam", "moved on main")
    return attempt


def test_the_target_moved_merge_refused_rebase_continued_then_squash_merged(
    page: Page, server: Server, repo: Path
) -> None:
    attempt = conflicting(server, repo, "landing")
    moved = git_cli(repo, "rev-parse", "main").strip()
    page.goto(url(server, f"/ui/attempts/{attempt['attempt_id']}/review/"))

    expect(fact(page, "Behind main")).to_have_text("1 commit")
    expect(fact(page, "Target moved")).to_have_text("main moved since the attempt began")
    confirm(page, "Merge…")
    failure = page.get_by_role("alert")
    expect(failure).to_contain_text("conflicts with main in app.py")
    expect(failure.locator(".git-message")).to_contain_text("CONFLICT (content)")

    confirm(page, "Rebase onto target…")
    expect(failure).to_contain_text("app.py")
    expect(page.get_by_role("list", name="Conflicted files")).to_have_text("app.py")
    expect(fact(page, "In progress")).to_have_text("rebase stopped on conflicts")
    page.set_viewport_size({"width": 1400, "height": 1100})
    screenshot(page, "attempt-review-conflicts")
    worktree = Path(attempt["worktree_path"])
    (worktree / "app.py").write_text("def greet():\n    return 'hey, hello'\n")
    confirm(page, "Continue rebase")
    expect(page.get_by_role("status")).to_contain_text("Rebased")
    expect(fact(page, "Behind main")).to_have_text("0 commits")
    expect(page.locator("#conflicts")).to_be_hidden()

    confirm(page, "Merge…")  # squash, the default
    expect(page.get_by_role("status")).to_contain_text("Merged into main as")
    expect(page.locator("#merged")).to_contain_text("Merged into main")
    expect(page.locator("#merged")).to_contain_text("(squash)")
    parent, message = git_cli(repo, "log", "-1", "--format=%P%n%B", "main").split("\n", 1)
    assert parent == moved  # one commit on the moved target: the squash
    assert f"Conductor-Attempt: {attempt['attempt_id']}" in message
    assert (repo / "app.py").read_text() == "def greet():\n    return 'hey, hello'\n"


def test_a_conflicting_rebase_shows_its_files_and_abort_restores(
    page: Page, server: Server, repo: Path
) -> None:
    attempt = conflicting(server, repo, "aborting")
    worktree = Path(attempt["worktree_path"])
    head = git_cli(worktree, "rev-parse", "HEAD").strip()
    page.goto(url(server, f"/ui/attempts/{attempt['attempt_id']}/review/"))

    # By keyboard: the dialog opens on Cancel; Tab reaches Confirm.
    page.get_by_role("button", name="Rebase onto target…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("list", name="Conflicted files")).to_have_text("app.py")
    page.get_by_role("button", name="Abort").click()
    page.keyboard.press("Enter")  # on Cancel
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Abort")).to_be_focused()  # nothing was done
    expect(fact(page, "In progress")).to_have_text("rebase stopped on conflicts")

    confirm(page, "Abort")
    expect(page.get_by_role("status")).to_contain_text("Aborted the rebase")
    expect(fact(page, "In progress")).to_have_text("nothing")
    expect(page.locator("#conflicts")).to_be_hidden()
    assert git_cli(worktree, "rev-parse", "HEAD").strip() == head
    assert git_cli(worktree, "status", "--porcelain") == ""


def test_an_unanswered_action_is_said_and_a_refused_stream_is_read_once_then_followed_anew(
    page: Page, server: Server, repo: Path
) -> None:
    attempt = finished_attempt(server, repo, "unanswered", CHANGE_APP)
    sockets: list[WebSocketRoute] = []
    ended: list[int | None] = []  # the server's close codes

    def refused_first(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        if len(sockets) == 1:
            socket.close(code=4404, reason="not found")  # as the server refuses a stream
            return

        def closed(code: int | None, reason: str | None) -> None:
            ended.append(code)
            socket.close(code=code, reason=reason)  # passed on to the page, as by default

        socket.connect_to_server().on_close(closed)

    def seen(done: Callable[[], bool], what: str) -> None:
        # Each poll a round trip to the page: Playwright runs the route's handler only while
        # it is being called.
        wait_for(lambda: page.evaluate("1") and done(), 30, what)

    page.route_web_socket(re.compile(r"/ws/attempts/"), refused_first)
    page.goto(url(server, f"/ui/attempts/{attempt['attempt_id']}/review/"))
    # The only read of the diff is the one a refusal brings (the stream never said a word).
    tree = page.get_by_role("navigation", name="Changed files")
    expect(tree.locator('li.file[data-path="app.py"]')).to_be_visible()

    page.route(re.compile(r"/merge$"), lambda route: route.abort())  # the connection lost
    confirm(page, "Merge…")
    failure = page.get_by_role("alert")
    expect(failure).to_contain_text("the server did not answer")
    seen(lambda: len(sockets) == 2, "the stream followed anew after the action")
    seen(lambda: ended == [1000], "the stream to end (the attempt runs nothing)")

    def bad_gateway(route: Route) -> None:
        route.fulfill(status=502, content_type="text/html", body="<h1>Bad gateway</h1>")

    page.unroute(re.compile(r"/merge$"))
    page.route(re.compile(r"/merge$"), bad_gateway)
    confirm(page, "Merge…")
    expect(failure).to_have_text("the server answered 502 without JSON")
    seen(lambda: len(sockets) == 3, "the ended stream followed anew")
    assert git_cli(repo, "log", "-1", "--format=%s", "main").strip() == "initial"
