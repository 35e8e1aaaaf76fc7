"""OpenAI Codex's `codex exec --json` (openai/codex `docs/exec.md`, `codex-rs/exec`).

`thread.started` (the thread id, which `resume` takes), `turn.started`, `turn.completed`
(`usage`), `turn.failed`, `error`, and `item.started` / `item.updated` / `item.completed`
around one item by `id`: `agent_message`, `reasoning`, `command_execution` (`command`,
`aggregated_output`, `exit_code`, `status`), `file_change` (`changes`: path and kind),
`mcp_tool_call`, `web_search`, `todo_list`, `error`. An item keeps its entry's index through
its updates.
"""

from __future__ import annotations

from typing import Any, Literal

from runs.entries import tools
from runs.entries.fields import clip, dict_of, int_of, list_of, str_of
from runs.entries.normalizer import (
    Normalizer,
    TextKind,
    error_entry,
    text_entry,
    usage_entry,
)
from runs.entries.shapes import FileEdit, ToolUse, Upsert

FAILED_STATUSES = frozenset({"failed", "declined"})
CHANGE_OPS: dict[str, Literal["add", "update", "delete"]] = {
    "add": "add",
    "update": "update",
    "delete": "delete",
}


class CodexNormalizer(Normalizer):
    format = "codex"

    def on_event(self, event: dict[str, Any]) -> list[Upsert] | None:
        kind = str_of(event.get("type"))
        if kind == "thread.started":
            return self.session(str_of(event.get("thread_id")))
        if kind == "turn.started":
            return []
        if kind == "turn.completed":
            usage = dict_of(event.get("usage"))
            entry = usage_entry(
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                usage.get("cached_input_tokens"),
            )
            return [self.add(entry)]
        if kind == "turn.failed":
            return [self.add(error_entry(str_of(dict_of(event.get("error")).get("message"))))]
        if kind == "error":
            return [self.add(error_entry(str_of(event.get("message"))))]
        if kind in ("item.started", "item.updated", "item.completed"):
            return self.on_item(dict_of(event.get("item")), ended=kind == "item.completed")
        return None

    def on_item(self, item: dict[str, Any], *, ended: bool) -> list[Upsert] | None:
        kind, item_id = str_of(item.get("type")), str_of(item.get("id"))
        if kind in ("agent_message", "reasoning"):
            text_kind: TextKind = "assistant_message" if kind == "agent_message" else "thinking"
            entry = text_entry(text_kind, clip(str_of(item.get("text"))))
            return [self.put("item", item_id, entry)]
        if kind == "todo_list":
            return [self.put("item", item_id, tools.plan(item.get("items")))]
        if kind == "error":
            return [self.put("item", item_id, error_entry(str_of(item.get("message"))))]
        if kind == "command_execution":
            return self._command(item_id, item, ended)
        if kind == "file_change":
            return [self.put("tool", item_id, file_change(item_id, item))]
        if kind in ("mcp_tool_call", "web_search"):
            return self._tool(item_id, item, ended)
        return None

    def _command(self, item_id: str, item: dict[str, Any], ended: bool) -> list[Upsert]:
        status = str_of(item.get("status"))
        if not ended and status == "in_progress":
            return self.tool_started(item_id, "command_execution", item)
        return self.tool_ended(
            item_id,
            failed=status in FAILED_STATUSES,
            output=str_of(item.get("aggregated_output")),
            exit_code=int_of(item.get("exit_code")),
            tool="command_execution",
            args=item,
        )

    def _tool(self, item_id: str, item: dict[str, Any], ended: bool) -> list[Upsert]:
        if item.get("type") == "web_search":
            name, args = "web_search", {"query": item.get("query")}
        else:
            name = f"{str_of(item.get('server'))}.{str_of(item.get('tool'))}"
            args = dict_of(item.get("arguments"))
        if not ended:
            return self.tool_started(item_id, name, args)
        error = str_of(dict_of(item.get("error")).get("message"))
        failed = bool(error) or str_of(item.get("status")) in FAILED_STATUSES
        output = error or result_text(item.get("result"))
        return self.tool_ended(item_id, failed=failed, output=output, tool=name, args=args)


def file_change(item_id: str, item: dict[str, Any]) -> ToolUse:
    """Codex says which files a patch touched and how, not the text it wrote."""
    edits: list[FileEdit] = []
    for change in map(dict_of, list_of(item.get("changes"))[:1000]):
        op = CHANGE_OPS.get(str_of(change.get("kind")), "update")
        edits.append({"path": clip(str_of(change.get("path"))), "op": op})
    status = str_of(item.get("status"))
    return ToolUse(
        type="tool_use",
        tool="file_change",
        call_id=item_id,
        status="failed" if status in FAILED_STATUSES else "done" if status else "pending",
        action={"kind": "file_edit", "edits": edits},
        output="",
    )


def result_text(result: Any) -> str:
    """An MCP tool's result: its `content` blocks' text."""
    blocks = list_of(dict_of(result).get("content"))
    return "\n".join(str_of(dict_of(block).get("text")) for block in blocks)
