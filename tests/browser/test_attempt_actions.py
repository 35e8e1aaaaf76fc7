"""The attempt page's actions and the review page's live diff in a real Chromium, against a
real server, real repositories and real `shell` agents: retry from an earlier run (asked
first, forced over uncommitted changes, which are kept under the saved ref it names; the
files reset and the later runs hidden behind "Show dropped"), a dev server started (its
printed URL a working link) and stopped, the worktree archived (its WIP commit shown; an
archive the server does not answer said as such), and the review page's diff following a
running agent over its WebSocket, with no polling and one HTTP read when the connection comes
back (from no cursor: the diff is a state)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Dialog, Page, WebSocketRoute, expect

from tests.browser.conftest import url
from tests.browser.test_attempt_page import api, run_status, started
from tests.conftest import wait_for
from tests.helpers import DEV_SERVER_SCRIPT, git_cli
from tests.processes import Server


def attempt(server: Server, attempt_id: str) -> dict[str, Any]:
    return dict(api(server, "GET", f"/api/v1/attempts/{attempt_id}?include_dropped=1"))


def settled(server: Server, attempt_id: str) -> dict[str, Any]:
    """The attempt once every run of it ended (a follow-up's run included)."""

    def ended() -> dict[str, Any] | None:
        read = attempt(server, attempt_id)
        active = any(run["ended_at"] is None for run in read["runs"])
        return None if active or read["status"] != "success" else read

    return dict(wait_for(ended, 60, "the attempt's runs to end"))


def followed_up(server: Server, attempt_id: str, prompt: str) -> str:
    body = {"prompt": prompt}
    run_id = str(api(server, "POST", f"/api/v1/attempts/{attempt_id}/follow-up", body)["run_id"])
    settled(server, attempt_id)
    return run_id


def test_a_retry_from_an_earlier_run_resets_the_files_and_hides_the_later_runs(
    page: Page, server: Server, git_repo: Path
) -> None:
    api(server, "POST", "/api/projects", {"project_id": "again", "project_root": str(git_repo)})
    task = {"project_id": "again", "task_id": "t", "agent_type": "shell"}
    ids = started(server, {**task, "prompt": "echo one | tee one.txt"})
    settled(server, ids["attempt_id"])
    second = followed_up(server, ids["attempt_id"], "echo two | tee two.txt")
    third = followed_up(server, ids["attempt_id"], "echo three | tee three.txt")
    worktree = Path(attempt(server, ids["attempt_id"])["worktree_path"])
    (worktree / "dirty.txt").write_text("not committed\n")
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))
    page.on("dialog", answer)
    page.get_by_role("button", name=f"Retry from run {second}").click()

    notice = page.get_by_role("status")
    expect(notice).to_contain_text(f"Retried from {second}")
    expect(notice).to_contain_text(f"refs/conductor/saved/{ids['attempt_id']}/1")
    assert "set aside" in asked[0] and "dirty.txt" in asked[1]  # asked, then offered force
    retried = attempt(server, ids["attempt_id"])["runs"][-1]["run_id"]
    assert page.url.endswith(f"?run={retried}")
    expect(page.locator("#log-lines")).to_contain_text("two")
    wait_for(lambda: run_status(server, retried) == "success", 60, "the retry to end")
    assert sorted(p.name for p in worktree.glob("*.txt")) == ["one.txt", "two.txt"]
    saved = f"refs/conductor/saved/{ids['attempt_id']}/1"
    assert git_cli(git_repo, "show", f"{saved}:dirty.txt") == "not committed\n"

    dropped = page.locator(".run-item.dropped")
    expect(dropped).to_have_count(2)
    for run_id in (second, third):
        expect(page.locator(f'a[data-run="{run_id}"]')).to_be_hidden()
    page.get_by_label("Show dropped (2)").check()
    expect(page.locator(f'a[data-run="{third}"]')).to_be_visible()
    expect(page.get_by_role("button", name=f"Retry from run {third}")).to_have_count(0)


def test_a_dev_server_starts_with_a_working_link_then_stops(
    page: Page, server: Server, git_repo: Path
) -> None:
    project = {
        "project_id": "serve",
        "project_root": str(git_repo),
        "dev_server_script": DEV_SERVER_SCRIPT,
    }
    api(server, "POST", "/api/projects", project)
    task = {"project_id": "serve", "task_id": "t", "agent_type": "shell"}
    ids = started(server, {**task, "prompt": "echo served > served.txt"})
    settled(server, ids["attempt_id"])
    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))
    expect(page.locator("#dev-server-state")).to_have_text("not started")

    page.get_by_role("button", name="Start dev server").click()

    link = page.locator("#dev-server-link")
    expect(link).to_have_text(re.compile(r"^http://127\.0\.0\.1:\d+/$"))
    served = link.get_attribute("href") or ""
    with urllib.request.urlopen(served + "served.txt", timeout=10) as response:
        assert response.read() == b"served\n"  # the worktree, served
    page.get_by_role("button", name="Stop dev server").click()
    expect(page.locator("#dev-server-state")).to_have_text("stopped")
    expect(link).to_be_hidden()
    expect(page.get_by_role("button", name="Start dev server")).to_be_visible()
    try:
        urllib.request.urlopen(served, timeout=10)
        raise AssertionError("the dev server still answers")
    except urllib.error.URLError:
        pass


def test_archiving_the_worktree_asks_then_shows_its_wip_commit(
    page: Page, server: Server, git_repo: Path
) -> None:
    api(server, "POST", "/api/projects", {"project_id": "shelve", "project_root": str(git_repo)})
    task = {"project_id": "shelve", "task_id": "t", "agent_type": "shell"}
    ids = started(server, {**task, "prompt": "echo kept > kept.txt"})
    done = settled(server, ids["attempt_id"])
    worktree = Path(done["worktree_path"])
    (worktree / "wip.txt").write_text("work in progress\n")
    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))
    expect(page.locator("#disk-use")).to_have_text(re.compile(r"\d.*(bytes|KB|MB)"))

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Archive worktree").click()
    page.evaluate("1")  # a round trip: a post that was not held back has gone by now
    assert worktree.is_dir()
    page.route(re.compile(r"/archive$"), lambda route: route.abort())  # the connection lost
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Archive worktree").click()
    expect(page.get_by_role("alert")).to_contain_text("the server did not answer")
    assert worktree.is_dir()
    page.unroute(re.compile(r"/archive$"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Archive worktree").click()

    notice = page.get_by_role("status")
    expect(notice).to_contain_text("Worktree archived: uncommitted work kept as WIP commit")
    wip = git_cli(git_repo, "rev-parse", done["branch"]).strip()
    expect(notice).to_contain_text(wip[:10])
    expect(page.locator("#worktree")).to_contain_text("archived (requested)")
    assert not worktree.exists()
    assert git_cli(git_repo, "show", f"{wip}:wip.txt") == "work in progress\n"


def test_the_review_diff_follows_a_running_agent_without_polling(
    page: Page, server: Server, git_repo: Path, tmp_path: Path
) -> None:
    gates = [tmp_path / f"go{n}" for n in range(3)]
    wait = "while [ ! -e {} ]; do sleep 0.05; done"
    script = "; ".join(
        [
            "echo early > early.txt",
            wait.format(gates[0]),
            "echo late > late.txt",
            wait.format(gates[1]),
            "echo later > later.txt",
            wait.format(gates[2]),
        ]
    )
    api(server, "POST", "/api/projects", {"project_id": "watch", "project_root": str(git_repo)})
    task = {"project_id": "watch", "task_id": "t", "agent_type": "shell", "prompt": script}
    ids = started(server, task)
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if r.url.endswith("/diff") else None)
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:  # the real server behind each page socket
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/attempts/"), through)
    wait_for(lambda: run_status(server, ids["run_id"]) == "running", 60, "the agent to start")
    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/review/"))
    tree = page.get_by_role("navigation", name="Changed files")
    expect(tree.locator('li.file[data-path="early.txt"]')).to_be_visible()
    read_before = len(reads)

    gates[0].touch()  # the agent writes late.txt while the page is open

    expect(tree.locator('li.file[data-path="late.txt"]')).to_be_visible()
    expect(page.locator("#diff-totals")).to_contain_text("2 files changed")
    assert len(reads) == read_before  # over the socket: no read of the diff
    sockets[0].close(code=1012, reason="server restarting")  # the page's side drops
    gates[1].touch()
    expect(tree.locator('li.file[data-path="later.txt"]')).to_be_visible()
    wait_for(lambda: len(sockets) == 2, 30, "the page to connect again")
    assert len(reads) == read_before + 1  # one read on the way back
    assert "after=" not in sockets[1].url  # the diff has no cursor: it starts from its snapshot
    gates[2].touch()
    wait_for(lambda: run_status(server, ids["run_id"]) == "success", 60, "the agent to end")
