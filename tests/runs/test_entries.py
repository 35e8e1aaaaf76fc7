"""Each output format's normalizer against its recorded-style fixture (tests/fixtures/entries/),
the `auto` format telling them apart, and the raw fallback for anything else.

No database: a normalizer is fed lines as the log writer stores them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runs.agents import AGENT_TYPES
from runs.entries import tools
from runs.entries.fields import MAX_TEXT
from runs.entries.formats import AutoNormalizer, normalizer
from runs.entries.normalizer import KEPT_ENTRIES
from runs.entries.shapes import Upsert

FIXTURES = Path(__file__).parent.parent / "fixtures" / "entries"
FINAL = "Fixed `add` in calc.py: it subtracted instead of adding. The test suite passes now."
# fixture → (format, session id)
CASES = {
    "claude": ("claude", "9f2c4e1a-7b3d-4c8e-a1f0-5d6e7f8a9b0c"),
    "amp": ("claude", "T-019a4c2e-5f1b-7d2a-9c3e-4b5a6d7e8f90"),
    "qwen": ("claude", "3b9d7c21-6e4f-4a8b-9c0d-1e2f3a4b5c6d"),
    "codex": ("codex", "0199a213-81c0-7800-8aa1-bbab2a035a53"),
    "gemini": ("gemini", "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"),
    "cursor": ("cursor", "c6b62c6f-7ead-4fd6-9922-e952131177ff"),
    "opencode": ("opencode", "ses_494719016ffe85dkDMj0FPRbHK"),
}


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.jsonl").read_text()


def final_entries(upserts: list[Upsert]) -> dict[int, dict[str, Any]]:
    """What a client holds after applying every upsert in order."""
    held: dict[int, dict[str, Any]] = {}
    for index, entry in upserts:
        held[index] = dict(entry)
    return held


def of_type(held: dict[int, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [entry for entry in held.values() if entry["type"] == kind]


def commands(held: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in of_type(held, "tool_use") if e["action"]["kind"] == "command"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fixture_becomes_a_conversation(name: str) -> None:
    fmt, session_id = CASES[name]
    held = final_entries(normalizer(fmt).feed("stdout", fixture(name)))
    assert list(held) == list(range(1, len(held) + 1)), "indexes count from 1 without a gap"
    assert not of_type(held, "raw"), of_type(held, "raw")
    assert held[1]["type"] == "session" and held[1]["session_id"] == session_id
    assert of_type(held, "assistant_message")[-1]["text"] == FINAL
    edits = [e for e in of_type(held, "tool_use") if e["action"]["kind"] == "file_edit"]
    assert [edit["path"] for edit in edits[0]["action"]["edits"]] == ["/home/dev/calc/calc.py"]
    assert edits[0]["status"] == "done"
    ran = commands(held)
    assert [(c["action"]["exit_code"], c["status"]) for c in ran] == [(1, "failed"), (0, "done")]
    assert all("python -m pytest -q" in c["action"]["command"] for c in ran)
    assert "1 failed" in ran[0]["output"] and "1 passed" in ran[1]["output"]
    usage = of_type(held, "usage")[-1]
    assert isinstance(usage["input_tokens"], int) and isinstance(usage["output_tokens"], int)


@pytest.mark.parametrize("name", ["claude", "amp", "qwen", "codex", "cursor", "opencode"])
def test_the_thinking_is_an_entry(name: str) -> None:
    held = final_entries(normalizer(CASES[name][0]).feed("stdout", fixture(name)))
    assert "add() subtracts" in of_type(held, "thinking")[0]["text"]


def test_claude_edit_carries_its_change_and_the_cost_is_read() -> None:
    held = final_entries(normalizer("claude").feed("stdout", fixture("claude")))
    edit = next(e for e in of_type(held, "tool_use") if e["tool"] == "Edit")
    assert edit["action"]["edits"] == [
        {
            "path": "/home/dev/calc/calc.py",
            "op": "edit",
            "old": "    return a - b",
            "new": "    return a + b",
        }
    ]
    assert of_type(held, "usage") == [
        {
            "type": "usage",
            "input_tokens": 28,
            "output_tokens": 412,
            "cached_input_tokens": 79224,
            "cost_usd": 0.0421875,
        }
    ]
    assert of_type(held, "plan")[0]["items"] == [
        {"text": "Run the failing test", "status": "in_progress"},
        {"text": "Fix add() in calc.py", "status": "pending"},
    ]


@pytest.mark.parametrize("name", ["claude", "amp", "qwen", "codex", "gemini", "cursor"])
def test_a_tool_call_is_sent_pending_then_again_finished_under_its_index(name: str) -> None:
    upserts: list[Any] = normalizer(CASES[name][0]).feed("stdout", fixture(name))
    first_command = next(
        (index, entry)
        for index, entry in upserts
        if entry["type"] == "tool_use" and entry["action"]["kind"] == "command"
    )
    index, entry = first_command
    assert entry["status"] == "pending" and entry["action"]["exit_code"] is None
    later = [e for i, e in upserts if i == index][1:]
    assert [e["status"] for e in later] == ["failed"]
    assert later[0]["action"]["exit_code"] == 1


def test_codex_plan_updates_keep_their_index() -> None:
    upserts: list[Any] = normalizer("codex").feed("stdout", fixture("codex"))
    plans = [(index, entry) for index, entry in upserts if entry["type"] == "plan"]
    assert {index for index, _ in plans} == {3}
    assert [item["status"] for item in plans[-1][1]["items"]] == ["completed", "completed"]


def test_streamed_text_grows_one_entry() -> None:
    upserts: list[Any] = normalizer("gemini").feed("stdout", fixture("gemini"))
    first = [entry["text"] for index, entry in upserts if index == 3]
    assert first == ["I'll run the tests ", "I'll run the tests to see what fails."]


def test_lines_fed_one_by_one_give_the_same_entries_as_a_batch() -> None:
    text = fixture("cursor")
    one_by_one = normalizer("cursor")
    upserts = [u for line in text.splitlines() for u in one_by_one.feed_line("stdout", line)]
    assert upserts == normalizer("cursor").feed("stdout", text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_auto_tells_each_format_from_its_output(name: str) -> None:
    fmt = CASES[name][0]
    auto = normalizer("auto")
    assert auto.feed("stdout", fixture(name)) == normalizer(fmt).feed("stdout", fixture(name))
    assert isinstance(auto, AutoNormalizer) and auto.detected == fmt


def test_auto_keeps_lines_before_the_format_shows_as_raw_and_numbers_on() -> None:
    auto = normalizer("auto")
    upserts = auto.feed("stdout", "npm warn deprecated\n" + fixture("claude"))
    assert upserts[0] == (1, {"type": "raw", "stream": "stdout", "text": "npm warn deprecated"})
    assert upserts[1][0] == 2 and upserts[1][1]["type"] == "session"


def test_every_adapter_names_a_known_format() -> None:
    formats = {cls.type: cls.entry_format for cls in AGENT_TYPES.values()}
    assert formats == {
        "shell": "auto",
        "custom": "auto",
        "claude": "claude",
        "amp": "claude",
        "qwen": "claude",
        "codex": "codex",
        "gemini": "gemini",
        "cursor": "cursor",
        "opencode": "opencode",
    }


# Fallbacks: nothing a line says raises, and what is not recognised is a raw entry.

GARBAGE = [
    "plain text",
    '{"type": "assistant", "message": {"content": [{"type": "te',  # truncated
    "{not json}",
    "[1, 2, 3]",
    '"a string"',
    '{"type": "no_such_event", "x": 1}',
    '{"type": "assistant", "message": 5}',
    '{"type": "assistant", "message": {"content": 7}}',
    '{"type": "user", "message": {"content": {"a": 1}}}',
    '{"type": "result", "usage": {"input_tokens": NaN}}',
    '{"type": "item.completed", "item": {"type": "mystery"}}',
    '{"type": "tool_call", "subtype": "halfway", "tool_call": []}',
    "{" + '"a":[' * 100_000 + "]" * 100_000 + "}",
    '{"n": ' + "9" * 5000 + "}",
    "\ufffd\ufffd\x00\x01binary\ufffd",
]


@pytest.mark.parametrize("fmt", ["raw", "auto", "claude", "codex", "gemini", "cursor", "opencode"])
def test_unrecognised_lines_fall_back_to_raw_entries(fmt: str) -> None:
    feed = normalizer(fmt)
    upserts: list[Any] = feed.feed("stdout", "\n".join(GARBAGE) + "\n")
    assert [index for index, _ in upserts] == list(range(1, len(GARBAGE) + 1))
    assert all(entry["type"] == "raw" for _, entry in upserts)
    assert upserts[0][1] == {"type": "raw", "stream": "stdout", "text": "plain text"}
    json.dumps([entry for _, entry in upserts], allow_nan=False)  # what the API sends back


def test_stderr_and_blank_lines() -> None:
    feed = normalizer("claude")
    assert feed.feed("stderr", '{"type": "system", "subtype": "init"}\n\n') == [
        (1, {"type": "raw", "stream": "stderr", "text": '{"type": "system", "subtype": "init"}'})
    ]
    assert feed.feed("stdout", "\n   \n") == []


def test_a_huge_line_is_clipped_in_its_entry() -> None:
    upserts: list[Any] = normalizer("raw").feed("stdout", "x" * (MAX_TEXT + 10) + "\n")
    text = upserts[0][1]["text"]
    assert text.startswith("x" * MAX_TEXT)
    assert text.endswith("[conductor: 10 more characters not shown]")


def test_huge_streamed_text_is_clipped_once() -> None:
    feed = normalizer("cursor")
    delta = json.dumps({"type": "thinking", "subtype": "delta", "text": "y" * 50_000})
    upserts: list[Any] = feed.feed("stdout", f"{delta}\n{delta}\n{delta}\n")
    text = upserts[-1][1]["text"]
    assert len(text) < MAX_TEXT + 100
    assert text.endswith(f"[conductor: {150_000 - MAX_TEXT} more characters not shown]")


def test_open_tool_calls_are_remembered_up_to_a_bound() -> None:
    feed = normalizer("gemini")
    for n in range(KEPT_ENTRIES + 10):
        event = {"type": "tool_use", "tool_name": "read_file", "tool_id": f"t{n}"}
        feed.feed_line("stdout", json.dumps(event))
    assert len(feed._keyed) == KEPT_ENTRIES
    late = json.dumps({"type": "tool_result", "tool_id": "t0", "status": "success"})
    upserts: list[Any] = feed.feed_line("stdout", late)
    assert [(index, entry["status"]) for index, entry in upserts] == [(KEPT_ENTRIES + 11, "done")]


def test_a_result_without_its_call_gets_an_entry_of_its_own() -> None:
    line = json.dumps(
        {
            "type": "user",
            "message": {"content": [{"type": "tool_result", "tool_use_id": "x", "content": "ok"}]},
        }
    )
    upserts: list[Any] = normalizer("claude").feed_line("stdout", line)
    assert [(i, e["type"], e["status"]) for i, e in upserts] == [(1, "tool_use", "done")]


@pytest.mark.parametrize(
    ("tool", "args", "kind"),
    [
        ("Bash", {"command": "ls"}, "command"),
        ("shell", {"command": ["bash", "-lc", "ls -la"]}, "command"),
        ("write_file", {"file_path": "a.py", "content": "x"}, "file_edit"),
        (
            "MultiEdit",
            {"file_path": "a.py", "edits": [{"old_string": "a", "new_string": "b"}]},
            "file_edit",
        ),
        ("Read", {"file_path": "a.py"}, "file_read"),
        ("Grep", {"pattern": "TODO"}, "file_search"),
        ("WebFetch", {"url": "https://example.com", "prompt": "?"}, "web_fetch"),
        ("google_web_search", {"query": "django"}, "web_search"),
        ("mcp__github__create_issue", {"title": "t"}, "other"),
    ],
)
def test_tool_kinds(tool: str, args: dict[str, Any], kind: str) -> None:
    action: Any = tools.tool_action(tool, args)
    assert action["kind"] == kind
    if kind == "command":
        assert action["command"] in ("ls", "bash -lc 'ls -la'")


def test_events_without_ids_are_each_a_new_entry() -> None:
    texts = [{"type": "text", "sessionID": "s", "part": {"text": word}} for word in ("a", "b")]
    upserts: list[Any] = normalizer("opencode").feed(
        "stdout", "".join(json.dumps(event) + "\n" for event in texts)
    )
    assert [(index, entry.get("text")) for index, entry in upserts] == [
        (1, None),
        (2, "a"),
        (3, "b"),
    ]


def test_a_line_separator_inside_a_json_string_does_not_cut_the_line() -> None:
    line = '{"type": "message", "role": "assistant", "content": "a\u2028b\u0085c"}'
    upserts: list[Any] = normalizer("gemini").feed("stdout", line + "\r\n")
    assert upserts == [(1, {"type": "assistant_message", "text": "a\u2028b\u0085c"})]
    assert normalizer("raw").feed("stdout", "dos line\r\n") == [
        (1, {"type": "raw", "stream": "stdout", "text": "dos line"})
    ]
