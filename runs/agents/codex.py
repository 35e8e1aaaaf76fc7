"""OpenAI Codex CLI adapter, verified against openai/codex `docs/exec.md` and
`codex-rs/exec/src/cli.rs`."""

from __future__ import annotations

from pathlib import Path

from runs.agents.base import Agent, AgentCommand, first_json_value, json_lines


class CodexAgent(Agent):
    """`codex exec --json --dangerously-bypass-approvals-and-sandbox [--model M] [FLAGS]
    [resume <thread_id>] -`, prompt on stdin (`-`). Profile flags go before the `resume`
    subcommand, where every `codex exec` option is accepted."""

    type = "codex"
    executable = "codex"
    supports_resume = True
    entry_format = "codex"

    def command(self, prompt: str, *, run_dir: Path, session_id: str = "") -> AgentCommand:
        argv = [*self.base_argv(), "exec", "--json", "--dangerously-bypass-approvals-and-sandbox"]
        if self.model:
            argv += ["--model", self.model]
        argv += self.extra_flags
        if session_id:
            argv += ["resume", session_id]
        return AgentCommand([*argv, "-"], stdin=prompt, env=self.env)

    def session_id(self, stdout_head: str) -> str:
        return first_json_value(stdout_head, "thread_id", type="thread.started")

    def final_message(self, stdout_tail: str) -> str:
        found = ""
        for event in json_lines(stdout_tail):
            item = event.get("item")
            if event.get("type") != "item.completed" or not isinstance(item, dict):
                continue
            if item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                found = item["text"]
        return found
