"""The task and attempt pages in a real Chromium against a real server: a `shell` task's lines
appear live in the raw log, a follow-up is sent from the box whose draft survives a reload,
a 100,000-line log scrolls to its end and searches without a long task, a Claude stream-json
session (through the `custom` agent) reads as a conversation live over its WebSocket, which
resumes after a drop with nothing lost or twice, a 5,000-entry conversation draws a page at a
time, and all of it works signed in when an API key is set."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.browser.conftest import screenshot, url
from tests.conftest import FIXTURES, wait_for
from tests.processes import Server

LONG_TASK_BOUND_MS = 1000  # a freeze, not a speed: far above any frame
# Before the page's own scripts: every long task (over 50 ms) the page has, into a list.
LONG_TASKS = """
window.longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


def api(server: Server, method: str, path: str, body: Any = None, key: str = "") -> Any:
    """A call with the key when there is one (`Server.request` sends none)."""
    request = urllib.request.Request(
        url(server, path),
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", **({"X-API-Key": key} if key else {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def started(server: Server, task: dict[str, Any], key: str = "") -> dict[str, Any]:
    """The task, started: its attempt id and agent run id."""
    answer = api(server, "POST", "/api/v1/tasks", task, key)
    query = f"project_id={task['project_id']}&task_id={task['task_id']}"
    attempts = api(server, "GET", f"/api/v1/attempts?{query}", key=key)["items"]
    return {"run_id": answer["run_id"], "attempt_id": attempts[0]["attempt_id"]}


def run_status(server: Server, run_id: str, key: str = "") -> str:
    return str(api(server, "GET", f"/api/v1/runs/{run_id}", key=key)["status"])


def test_a_shell_tasks_lines_appear_live_and_a_follow_up_is_sent(
    page: Page, server: Server, git_repo: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    api(server, "POST", "/api/projects", {"project_id": "live", "project_root": str(git_repo)})
    script = f"echo first line; while [ ! -e {go} ]; do sleep 0.05; done; echo second line"
    task = {"project_id": "live", "task_id": "slow", "agent_type": "shell", "prompt": script}
    ids = started(server, task)

    page.goto(url(server, "/ui/projects/live/"))
    expect(page.locator('.card[data-task="slow"] .badge.running')).to_be_visible()
    page.locator('.card[data-task="slow"] a.title').click()  # the title is the prompt
    expect(page.get_by_role("heading", level=1)).to_contain_text("echo first line")
    page.get_by_role("link", name=ids["attempt_id"]).click()

    log = page.locator("#log-lines")
    expect(page.get_by_role("tab", name="Raw log")).to_have_attribute("aria-selected", "true")
    expect(log).to_contain_text("first line")
    assert run_status(server, ids["run_id"]) == "running"
    expect(log).not_to_contain_text("second line")
    go.touch()
    expect(log).to_contain_text("second line")
    expect(page.locator("#run-status")).to_have_text("success")
    expect(page.locator("#attempt-status")).to_have_text("success")  # the header read again
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    screenshot(page, "attempt")

    box = page.get_by_label("Follow-up")
    box.fill("echo followed up")
    expect(page.locator("#draft-state")).to_have_text(" Draft saved.")
    page.reload()
    expect(page.get_by_label("Follow-up")).to_have_value("echo followed up")
    page.get_by_role("button", name="Send follow-up").click()

    expect(page.get_by_role("status")).to_contain_text("Follow-up run-")
    expect(page.locator("#log-lines")).to_contain_text("followed up")
    expect(page.get_by_label("Follow-up")).to_have_value("")  # the draft went with it
    page.goto(url(server, "/ui/projects/live/tasks/slow/"))
    expect(page.locator(f'[data-attempt="{ids["attempt_id"]}"] .runs li')).to_have_count(2)
    screenshot(page, "task")


def test_a_dropped_log_connection_resumes_after_its_last_line(
    page: Page, server: Server, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    wait = "while [ ! -e {} ]; do sleep 0.05; done"
    script = f"echo one; {wait.format(first)}; echo two; {wait.format(second)}; echo three"
    task = {"project_id": "drop", "task_id": "t", "agent_type": "shell", "prompt": script}
    ids = started(server, task)
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:  # the real server behind each page socket
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/runs/"), through)
    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))
    log = page.locator("#log-lines")
    expect(log).to_contain_text("one")
    first.touch()
    expect(log).to_contain_text("two")  # live, over the first socket

    sockets[0].close(code=1012, reason="server restarting")  # the page's side drops
    second.touch()

    expect(log).to_contain_text("three")
    assert len(sockets) == 2 and sockets[1].url.endswith("?after=2%3A0")  # after "two"
    expect(log.locator(".ln")).to_have_text(["one", "two", "three"])  # none lost or twice


def test_a_new_attempt_is_started_from_the_task_page_and_stopped_after_asking(
    page: Page, server: Server
) -> None:
    task = {
        "project_id": "stops",
        "task_id": "sleeper",
        "agent_type": "shell",
        "prompt": "sleep 600",
    }
    first = started(server, task)
    page.goto(url(server, "/ui/projects/stops/tasks/sleeper/"))
    page.get_by_text("New attempt").click()
    page.get_by_label("Agent").select_option("shell")
    page.get_by_role("button", name="Start attempt").click()

    expect(page.get_by_role("status")).to_contain_text("Attempt att-")
    assert first["attempt_id"] not in page.url
    expect(page.locator("#run-status")).to_have_text("running")
    stops: list[str] = []
    page.on(
        "request", lambda request: stops.append(request.url) if "/stop/" in request.url else None
    )
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Stop").click()
    page.evaluate("1")  # a round trip: a submit that was not prevented has gone by now
    assert stops == []
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop").click()

    expect(page.get_by_role("status")).to_contain_text("Stop sent to 1 run.")
    expect(page.locator("#run-status")).to_have_text("stopped", timeout=60_000)
    api(server, "POST", f"/api/v1/attempts/{first['attempt_id']}/stop")


def test_a_100000_line_log_scrolls_to_its_end_and_searches_without_freezing(
    browser: Browser, server: Server
) -> None:
    printer = (
        "awk 'BEGIN { for (i = 1; i <= 100000; i++) printf \"\\033[32mline\\033[0m %d\\n\", i }'"
    )
    task = {"project_id": "long", "task_id": "lines", "agent_type": "shell", "prompt": printer}
    ids = started(server, task)
    wait_for(lambda: run_status(server, ids["run_id"]) == "success", 120, "the run to end")
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(LONG_TASKS)

    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))

    page.locator("#log-view").evaluate("view => view.scrollIntoView({ block: 'end' })")
    expect(page.locator("#log-count")).to_have_text("100,000 lines", timeout=120_000)
    last = page.locator('#log-lines .ln[data-line="100000"]')
    expect(last).to_be_in_viewport()
    expect(last).to_have_text("line 100000")
    assert page.locator("#log-lines .ln").count() < 200  # only what is in view
    colour = last.locator("span").first.evaluate("span => getComputedStyle(span).color")
    assert colour != page.locator("#log-lines").evaluate("lines => getComputedStyle(lines).color")

    page.locator("#log-view").evaluate("view => { view.scrollTop = 0; }")
    expect(page.locator('#log-lines .ln[data-line="1"]')).to_be_in_viewport()
    expect(page.locator("#log-state")).to_contain_text("Paused")
    page.get_by_role("button", name="Jump to end").click()
    expect(last).to_be_in_viewport()

    search = page.get_by_placeholder("Search the log")
    search.fill("line 7777")
    search.press("Enter")
    current = page.locator("#log-lines .ln.hit.current")
    expect(current).to_have_text("line 7777")
    expect(page.locator("#log-matches")).to_have_text("1 / 11")  # 7777 and 77770-77779
    page.get_by_role("button", name="Next match").click()
    expect(current).to_have_text("line 77770")
    page.get_by_role("button", name="Previous match").click()
    page.get_by_role("button", name="Previous match").click()
    expect(current).to_have_text("line 77779")

    long_tasks = page.evaluate("window.longTasks")
    assert max(long_tasks, default=0) < LONG_TASK_BOUND_MS, long_tasks
    context.close()


def replaying_agent(page: Page, server: Server, name: str, command: str) -> None:
    """A `custom` agent profile `name` that runs `command`, made on the Agents page."""
    page.goto(url(server, "/ui/agents/new/"))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Agent type").select_option("custom")
    page.get_by_label("Command").fill(command)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("saved")


def indexes(page: Page) -> list[int]:
    shown = page.locator("#conversation-entries .entry")
    return [int(i) for i in shown.evaluate_all("nodes => nodes.map(n => n.dataset.index)")]


def test_a_claude_session_reads_as_a_conversation_live_and_resumes_after_a_drop(
    page: Page, server: Server, tmp_path: Path
) -> None:
    fixture, go = FIXTURES / "entries" / "claude.jsonl", tmp_path / "go"
    replay = tmp_path / "replay.sh"  # the session up to the Edit call, then the rest
    replay.write_text(
        "echo '<b>not bold</b>'\n"
        f"head -n 8 {fixture}; while [ ! -e {go} ]; do sleep 0.05; done; tail -n +9 {fixture}\n"
    )
    replaying_agent(page, server, "replay-claude", f"sh {replay}")
    task = {"project_id": "talk", "task_id": "fix", "agent_type": "replay-claude", "prompt": "fix"}
    ids = started(server, task)
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/runs/[^/]+/entries/"), through)
    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))

    conversation = page.locator("#conversation")
    expect(page.get_by_role("tab", name="Conversation")).to_have_attribute("aria-selected", "true")
    raw = conversation.locator(".entry.raw").first
    expect(raw).to_have_text("<b>not bold</b>")  # text, never HTML
    assert raw.locator("b").count() == 0
    expect(conversation.locator(".entry.thinking")).to_have_count(1)
    failed = conversation.locator(".entry.tool_use", has_text="python -m pytest -q").first
    expect(failed.locator(".badge")).to_have_text("failed")
    expect(failed.locator("pre.output")).to_contain_text("Exit code 1")
    expect(failed).to_contain_text("exit 1")
    edit = conversation.locator(".entry.tool_use", has=page.locator(".tool-name", has_text="Edit"))
    expect(edit.locator(".badge")).to_have_text("pending")
    edit_index = edit.get_attribute("data-index")
    expect(conversation.locator(".entry.assistant_message")).to_have_count(1)
    expect(conversation.locator(".entry.plan li")).to_have_count(2)
    cursor = max(indexes(page))

    sockets[0].close(code=1012, reason="server restarting")  # the page's side drops
    expect(page.locator("#conversation-state")).to_contain_text("reconnecting")
    go.touch()  # the rest arrives while the page is open

    expect(conversation.locator(".entry.assistant_message").last).to_contain_text(
        "The test suite passes now."
    )
    expect(edit.locator(".badge")).to_have_text("done")  # the same card, sent again
    assert edit.get_attribute("data-index") == edit_index
    edit.locator("summary").click()
    expect(edit.locator("pre.diff .del")).to_have_text("-    return a - b")
    expect(edit.locator("pre.diff .add")).to_have_text("+    return a + b")
    expect(conversation.locator(".entry.usage").last).to_contain_text("Tokens:")
    expect(conversation.locator(".entry.usage").last).to_contain_text("$0.0422")
    expect(page.locator("#run-status")).to_have_text("success")
    assert len(sockets) == 2 and sockets[1].url.endswith(f"?after={cursor}")
    stored = api(server, "GET", f"/api/v1/runs/{ids['run_id']}/entries?limit=1000")["entries"]
    wait_for(lambda: indexes(page) == [item["index"] for item in stored], 10, "every entry once")
    expect(page.locator("#conversation-state")).to_have_text("")
    screenshot(page, "conversation")


def test_a_conversation_of_thousands_of_entries_draws_a_page_and_shows_earlier_ones(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    printer = tmp_path / "talk.py"  # a Claude session of 5,000 short messages
    printer.write_text(
        "import json\n"
        'init = {"type": "system", "subtype": "init", "session_id": "s", "model": "m"}\n'
        "print(json.dumps(init))\n"
        "for n in range(1, 5001):\n"
        '    content = [{"type": "text", "text": f"message {n}"}]\n'
        '    message = {"id": f"msg_{n}", "role": "assistant", "content": content}\n'
        '    print(json.dumps({"type": "assistant", "message": message}))\n'
    )
    context = browser.new_context()
    page = context.new_page()
    replaying_agent(page, server, "chatty", f"python3 {printer}")
    task = {"project_id": "chatty", "task_id": "t", "agent_type": "chatty", "prompt": "talk"}
    ids = started(server, task)
    wait_for(lambda: run_status(server, ids["run_id"]) == "success", 120, "the run to end")
    page.add_init_script(LONG_TASKS)

    page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))

    entries = page.locator("#conversation-entries .entry")
    last = entries.last
    expect(last).to_have_text("Assistantmessage 5000", timeout=60_000)
    expect(last).to_be_in_viewport()
    assert entries.count() <= 400  # a page or two, not 5,000
    earlier = page.get_by_role("button", name=re.compile(r"^Show earlier"))
    shown = entries.count()
    earlier.click()
    expect(entries).to_have_count(shown + 200)
    assert max(page.evaluate("window.longTasks"), default=0) < LONG_TASK_BOUND_MS
    context.close()


def test_signed_in_with_an_api_key_the_page_follows_the_log_and_keeps_the_draft(
    browser: Browser, tmp_path: Path
) -> None:
    key = "attempt-page-key"
    server = Server(tmp_path / "data", tmp_path / "server.log", CONDUCTOR_API_KEY=key)
    try:
        task = {"project_id": "keyed", "task_id": "t", "agent_type": "shell", "prompt": "echo hi"}
        ids = started(server, task, key)
        page = browser.new_context().new_page()
        page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))
        page.fill('input[name="username"]', "ada")
        page.fill('input[name="password1"]', "a long pass phrase")
        page.fill('input[name="password2"]', "a long pass phrase")
        page.get_by_role("button", name="Create and sign in").click()
        page.goto(url(server, f"/ui/attempts/{ids['attempt_id']}/"))

        expect(page.locator("#log-lines")).to_contain_text("hi")
        expect(page.locator("#run-status")).to_have_text("success")
        page.get_by_role("tab", name="Conversation").click()  # its socket opens with the tab
        expect(page.locator("#conversation-entries .entry.raw")).to_have_text("hi")
        page.get_by_label("Follow-up").fill("echo again")
        expect(page.locator("#draft-state")).to_have_text(" Draft saved.")
        draft = api(server, "GET", f"/api/v1/drafts/{ids['attempt_id']}", key=key)
        assert draft["prompt"] == "echo again"
    finally:
        server.terminate()
