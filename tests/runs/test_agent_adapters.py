"""Agent adapters: the argv each builds, where the prompt goes, and how its JSON output is read.

No database and no real CLI: profiles are unsaved model instances, outputs are samples shaped
like each agent's documented stream format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from projects.models import AgentProfile
from runs.agents import AGENT_TYPES, Agent
from runs.agents.amp import AmpAgent
from runs.agents.claude import ClaudeAgent
from runs.agents.codex import CodexAgent
from runs.agents.cursor import CursorAgent
from runs.agents.gemini import GeminiAgent
from runs.agents.opencode import OpencodeAgent
from runs.agents.qwen import QwenAgent

PROMPT = "fix the failing test\nthen commit"


def profile(agent_type: str, **fields: Any) -> AgentProfile:
    values: dict[str, Any] = {
        "name": "x",
        "agent_type": agent_type,
        "model": "m",
        "flags": ["--foo"],
        "env": {"TOKEN": "t"},
        **fields,
    }
    return AgentProfile(**values)


def jsonl(*events: dict[str, Any]) -> str:
    return "\n".join(json.dumps(event) for event in events) + "\n"


ADAPTERS = [ClaudeAgent, CodexAgent, GeminiAgent, AmpAgent, CursorAgent, OpencodeAgent, QwenAgent]


def test_all_adapters_are_registered() -> None:
    assert {cls.type: AGENT_TYPES[cls.type] for cls in ADAPTERS} == {
        "claude": ClaudeAgent,
        "codex": CodexAgent,
        "gemini": GeminiAgent,
        "amp": AmpAgent,
        "cursor": CursorAgent,
        "opencode": OpencodeAgent,
        "qwen": QwenAgent,
    }


@pytest.mark.parametrize("cls", ADAPTERS)
def test_every_adapter_resumes_and_asks_its_version(cls: type[Agent]) -> None:
    agent = cls(None)
    assert cls.supports_resume
    assert agent.version_argv() == [cls.executable, "--version"]


@pytest.mark.parametrize("cls", ADAPTERS)
def test_profile_command_replaces_the_executable(cls: type[Agent], tmp_path: Path) -> None:
    agent = cls(profile(cls.type, command="npx -y some-agent@1"))
    argv = agent.command(PROMPT, run_dir=tmp_path).argv
    assert argv[:3] == ["npx", "-y", "some-agent@1"]
    assert argv[-1] in ("--foo", "-")


@pytest.mark.parametrize("cls", ADAPTERS)
def test_unknown_output_gives_empty_strings(cls: type[Agent]) -> None:
    agent = cls(None)
    noise = "plain text\n{not json\n[1, 2]\n"
    assert agent.session_id(noise) == ""
    assert agent.final_message(noise) == ""


# --- claude ---------------------------------------------------------------------------------


def test_claude_argv(tmp_path: Path) -> None:
    bare = ClaudeAgent(None).command(PROMPT, run_dir=tmp_path)
    assert bare.argv == [
        "claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
    ]
    assert bare.stdin == PROMPT
    assert bare.env == {}

    full = ClaudeAgent(profile("claude")).command(PROMPT, run_dir=tmp_path, session_id="s-1")
    assert full.argv[6:] == ["--model", "m", "--resume", "s-1", "--foo"]
    assert full.stdin == PROMPT
    assert full.env == {"TOKEN": "t"}


def test_claude_parses_stream_json() -> None:
    out = jsonl(
        {"type": "system", "subtype": "init", "session_id": "9f1c", "model": "claude-sonnet-4"},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": "Working"}]}},
        {"type": "result", "subtype": "success", "result": "All tests pass.", "session_id": "9f1c"},
    )
    agent = ClaudeAgent(None)
    assert agent.session_id(out) == "9f1c"
    assert agent.final_message(out) == "All tests pass."


# --- codex ----------------------------------------------------------------------------------


def test_codex_argv(tmp_path: Path) -> None:
    bare = CodexAgent(None).command(PROMPT, run_dir=tmp_path)
    assert bare.argv == [
        "codex",
        "exec",
        "--json",
        "--dangerously-bypass-approvals-and-sandbox",
        "-",
    ]
    assert bare.stdin == PROMPT

    full = CodexAgent(profile("codex")).command(PROMPT, run_dir=tmp_path)
    assert full.argv[4:] == ["--model", "m", "--foo", "-"]
    assert full.env == {"TOKEN": "t"}


def test_codex_resume_is_a_subcommand_after_the_exec_options(tmp_path: Path) -> None:
    cmd = CodexAgent(profile("codex")).command(PROMPT, run_dir=tmp_path, session_id="0199a213")
    assert cmd.argv[4:] == ["--model", "m", "--foo", "resume", "0199a213", "-"]
    assert cmd.stdin == PROMPT


def test_codex_parses_exec_json() -> None:
    out = jsonl(
        {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Hm**"}},
        {
            "type": "item.completed",
            "item": {
                "id": "item_1",
                "type": "command_execution",
                "command": "bash -lc ls",
                "aggregated_output": "README.md\n",
                "exit_code": 0,
                "status": "completed",
            },
        },
        {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": "Hi"}},
        {
            "type": "item.completed",
            "item": {"id": "item_3", "type": "agent_message", "text": "Fixed and committed."},
        },
        {"type": "turn.completed", "usage": {"input_tokens": 10, "output_tokens": 3}},
    )
    agent = CodexAgent(None)
    assert agent.session_id(out) == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    assert agent.final_message(out) == "Fixed and committed."


# --- gemini ---------------------------------------------------------------------------------


def test_gemini_argv(tmp_path: Path) -> None:
    bare = GeminiAgent(None).command(PROMPT, run_dir=tmp_path)
    assert bare.argv == [
        "gemini",
        "--output-format",
        "stream-json",
        "--approval-mode",
        "yolo",
        f"--prompt={PROMPT}",
    ]
    assert bare.stdin is None

    full = GeminiAgent(profile("gemini")).command(PROMPT, run_dir=tmp_path, session_id="a1b2")
    assert full.argv[6:] == ["--model", "m", "--resume", "a1b2", "--foo"]
    assert full.stdin is None
    assert full.env == {"TOKEN": "t"}


def test_gemini_keeps_a_dash_prompt_as_the_prompt_value(tmp_path: Path) -> None:
    argv = GeminiAgent(None).command("--help me", run_dir=tmp_path).argv
    assert "--prompt=--help me" in argv


def test_gemini_parses_stream_json() -> None:
    ts = "2025-10-10T12:00:00.000Z"
    out = jsonl(
        {"type": "init", "timestamp": ts, "session_id": "c0ffee", "model": "gemini-2.5-pro"},
        {"type": "message", "timestamp": ts, "role": "user", "content": PROMPT},
        {"type": "message", "timestamp": ts, "role": "assistant", "content": "Look", "delta": True},
        {
            "type": "tool_use",
            "timestamp": ts,
            "tool_name": "run_shell_command",
            "tool_id": "t1",
            "parameters": {"command": "pytest"},
        },
        {"type": "tool_result", "timestamp": ts, "tool_id": "t1", "status": "success"},
        {"type": "message", "timestamp": ts, "role": "assistant", "content": "All ", "delta": True},
        {
            "type": "message",
            "timestamp": ts,
            "role": "assistant",
            "content": "green.",
            "delta": True,
        },
        {"type": "result", "timestamp": ts, "status": "success", "stats": {"total_tokens": 9}},
    )
    agent = GeminiAgent(None)
    assert agent.session_id(out) == "c0ffee"
    assert agent.final_message(out) == "All green."


# --- amp ------------------------------------------------------------------------------------


def test_amp_argv(tmp_path: Path) -> None:
    bare = AmpAgent(None).command(PROMPT, run_dir=tmp_path)
    assert bare.argv == ["amp", "--execute", "--stream-json", "--dangerously-allow-all"]
    assert bare.stdin == PROMPT

    full = AmpAgent(profile("amp", model="rush")).command(PROMPT, run_dir=tmp_path)
    assert full.argv[4:] == ["--mode", "rush", "--foo"]
    assert full.env == {"TOKEN": "t"}


def test_amp_resume_continues_the_thread(tmp_path: Path) -> None:
    cmd = AmpAgent(profile("amp")).command(PROMPT, run_dir=tmp_path, session_id="T-2775dc92")
    assert cmd.argv == [
        "amp",
        "threads",
        "continue",
        "T-2775dc92",
        "--execute",
        "--stream-json",
        "--dangerously-allow-all",
        "--mode",
        "m",
        "--foo",
    ]
    assert cmd.stdin == PROMPT


def test_amp_parses_stream_json() -> None:
    thread = "T-2775dc92-90ed-4f85-8b73-8f9766029e83"
    out = jsonl(
        {"type": "system", "subtype": "init", "cwd": "/w", "session_id": thread, "tools": []},
        {
            "type": "assistant",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "2 + 2 = 4."}]},
            "session_id": thread,
        },
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": 1,
            "result": "2 + 2 equals 4.",
            "session_id": thread,
        },
    )
    agent = AmpAgent(None)
    assert agent.session_id(out) == thread
    assert agent.final_message(out) == "2 + 2 equals 4."


# --- cursor ---------------------------------------------------------------------------------


def test_cursor_argv(tmp_path: Path) -> None:
    bare = CursorAgent(None).command(PROMPT, run_dir=tmp_path)
    assert bare.argv == ["cursor-agent", "-p", "--output-format", "stream-json", "--force"]
    assert bare.stdin == PROMPT

    full = CursorAgent(profile("cursor")).command(PROMPT, run_dir=tmp_path, session_id="chat-7")
    assert full.argv[5:] == ["--model", "m", "--resume", "chat-7", "--foo"]
    assert full.stdin == PROMPT
    assert full.env == {"TOKEN": "t"}


def test_cursor_parses_stream_json() -> None:
    chat = "6f0c3a57-1a2b-4c3d-9e8f-0123456789ab"
    out = jsonl(
        {
            "type": "system",
            "subtype": "init",
            "apiKeySource": "login",
            "cwd": "/w",
            "session_id": chat,
            "model": "Claude 4 Sonnet",
            "permissionMode": "default",
        },
        {
            "type": "assistant",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Done"}]},
            "session_id": chat,
        },
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": 1234,
            "result": "Done: the test passes.",
            "session_id": chat,
        },
    )
    agent = CursorAgent(None)
    assert agent.session_id(out) == chat
    assert agent.final_message(out) == "Done: the test passes."


# --- opencode -------------------------------------------------------------------------------


def test_opencode_argv(tmp_path: Path) -> None:
    bare = OpencodeAgent(None).command(PROMPT, run_dir=tmp_path)
    assert bare.argv == ["opencode", "run", "--format", "json"]
    assert bare.stdin == PROMPT

    model = "anthropic/claude-sonnet-4"
    full = OpencodeAgent(profile("opencode", model=model)).command(
        PROMPT, run_dir=tmp_path, session_id="ses_abc"
    )
    assert full.argv[4:] == ["--model", model, "--session", "ses_abc", "--foo"]
    assert full.stdin == PROMPT
    assert full.env == {"TOKEN": "t"}


def test_opencode_parses_json_events() -> None:
    sid = "ses_4d1f2c0b3ffeBq9x"
    base = {"timestamp": 1760000000000, "sessionID": sid}
    out = jsonl(
        {**base, "type": "step_start", "part": {"type": "step-start", "sessionID": sid}},
        {
            **base,
            "type": "text",
            "part": {"type": "text", "text": "Running the tests.", "time": {"start": 1, "end": 2}},
        },
        {
            **base,
            "type": "tool_use",
            "part": {"type": "tool", "tool": "bash", "state": {"status": "completed"}},
        },
        {**base, "type": "text", "part": {"type": "text", "text": "All tests pass.\n"}},
        {**base, "type": "step_finish", "part": {"type": "step-finish", "reason": "stop"}},
    )
    agent = OpencodeAgent(None)
    assert agent.session_id(out) == sid
    assert agent.final_message(out) == "All tests pass."


# --- qwen -----------------------------------------------------------------------------------


def test_qwen_argv(tmp_path: Path) -> None:
    bare = QwenAgent(None).command(PROMPT, run_dir=tmp_path)
    assert bare.argv == ["qwen", "--output-format", "stream-json", "--yolo", f"--prompt={PROMPT}"]
    assert bare.stdin is None

    full = QwenAgent(profile("qwen")).command(PROMPT, run_dir=tmp_path, session_id="123e4567")
    assert full.argv[5:] == ["--model", "m", "--resume", "123e4567", "--foo"]
    assert full.stdin is None
    assert full.env == {"TOKEN": "t"}


def test_qwen_parses_stream_json() -> None:
    sid = "123e4567-e89b-12d3-a456-426614174000"
    out = jsonl(
        {"type": "system", "subtype": "session_start", "uuid": "u0", "session_id": sid},
        {
            "type": "assistant",
            "uuid": "u1",
            "session_id": sid,
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]},
            "parent_tool_use_id": None,
        },
        {
            "type": "result",
            "subtype": "success",
            "uuid": "u2",
            "session_id": sid,
            "is_error": False,
            "result": "The capital of France is Paris.",
        },
    )
    agent = QwenAgent(None)
    assert agent.session_id(out) == sid
    assert agent.final_message(out) == "The capital of France is Paris."
