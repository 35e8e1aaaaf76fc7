"""The shapes of conversation entries: what every normalizer produces, whatever the agent.

Entries are plain dicts (JSON as they are, for the API and the WebSocket frames), typed here so
that mypy checks each normalizer builds them right. Each has a `type`; a tool call's `action`
has a `kind` saying what the tool did, so a client can draw an edit, a command or a web fetch
without knowing each agent's tool names.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

ToolStatus = Literal["pending", "done", "failed"]
PlanStatus = Literal["pending", "in_progress", "completed"]


class UserMessage(TypedDict):
    type: Literal["user_message"]
    text: str


class AssistantMessage(TypedDict):
    type: Literal["assistant_message"]
    text: str


class Thinking(TypedDict):
    type: Literal["thinking"]
    text: str


class FileEdit(TypedDict):
    """One change to one file. `op` says which of the optional fields it has: `edit` the
    replaced `old` and its `new` text, `write` the whole `content`, `patch` a unified `diff`;
    `add`, `update` and `delete` (an agent that reports only which files it touched) none."""

    path: str
    op: Literal["edit", "write", "patch", "add", "update", "delete"]
    old: NotRequired[str]
    new: NotRequired[str]
    content: NotRequired[str]
    diff: NotRequired[str]


class FileEditAction(TypedDict):
    kind: Literal["file_edit"]
    edits: list[FileEdit]


class CommandAction(TypedDict):
    kind: Literal["command"]
    command: str
    exit_code: int | None


class FileReadAction(TypedDict):
    kind: Literal["file_read"]
    path: str


class FileSearchAction(TypedDict):
    kind: Literal["file_search"]
    query: str


class WebFetchAction(TypedDict):
    kind: Literal["web_fetch"]
    url: str


class WebSearchAction(TypedDict):
    kind: Literal["web_search"]
    query: str


class OtherAction(TypedDict):
    """A tool this module does not know (an MCP tool, a subagent): its input as given, or as
    a clipped JSON text when it is large."""

    kind: Literal["other"]
    input: Any


ToolAction = (
    FileEditAction
    | CommandAction
    | FileReadAction
    | FileSearchAction
    | WebFetchAction
    | WebSearchAction
    | OtherAction
)


class ToolUse(TypedDict):
    """A tool call: sent `pending` when the agent asks for it, sent again under the same index
    once its result arrives (`done` or `failed`, with the tool's `output`)."""

    type: Literal["tool_use"]
    tool: str
    call_id: str
    status: ToolStatus
    action: ToolAction
    output: str


class PlanItem(TypedDict):
    text: str
    status: PlanStatus


class Plan(TypedDict):
    """The agent's todo list or plan, whole, each time it changes."""

    type: Literal["plan"]
    items: list[PlanItem]


class Error(TypedDict):
    type: Literal["error"]
    message: str


class Usage(TypedDict):
    """Tokens (and cost, where the agent reports it) of a turn or of the whole run, as the
    agent reports them; `None` where it does not say."""

    type: Literal["usage"]
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    cost_usd: float | None


class Session(TypedDict):
    type: Literal["session"]
    session_id: str
    model: str


class Raw(TypedDict):
    """A line no normalizer recognised (plain text, unknown JSON, stderr), as printed."""

    type: Literal["raw"]
    stream: str
    text: str


Entry = UserMessage | AssistantMessage | Thinking | ToolUse | Plan | Error | Usage | Session | Raw

# An entry and its index (from 1 per run): the same index sent again replaces the entry.
Upsert = tuple[int, Entry]
