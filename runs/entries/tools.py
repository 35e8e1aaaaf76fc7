"""What an agent's tool call did, from its name and arguments: one table for every agent.

Agents name the same tools differently (`Bash`, `run_shell_command`, `shellToolCall`, `bash`)
and spell the same arguments differently (`file_path`, `path`, `filePath`; `old_string`,
`old_str`, `oldString`). Names are compared folded (lower case, letters and digits only), so
one table serves Claude Code, Amp, Qwen, Gemini, Cursor and OpenCode; a tool it does not
know is `other`, with its input.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import lru_cache
from typing import Any

from runs.entries.fields import clip, dict_of, list_of, str_of
from runs.entries.shapes import (
    FileEdit,
    Plan,
    PlanItem,
    PlanStatus,
    ToolAction,
    ToolStatus,
    ToolUse,
)

COMMAND_TOOLS = frozenset(
    {"bash", "shell", "runshellcommand", "execcommand", "localshell", "commandexecution"}
)
EDIT_TOOLS = frozenset({"edit", "multiedit", "editfile", "replace", "strreplace", "searchreplace"})
WRITE_TOOLS = frozenset({"write", "writefile", "createfile"})
DELETE_TOOLS = frozenset({"delete", "deletefile"})
PATCH_TOOLS = frozenset({"applypatch", "patch"})
READ_TOOLS = frozenset({"read", "readfile", "view"})
SEARCH_TOOLS = frozenset({"grep", "glob", "ls", "list", "listdirectory", "searchfilecontent"})
FETCH_TOOLS = frozenset({"webfetch", "fetch", "readwebpage"})
WEB_SEARCH_TOOLS = frozenset({"websearch", "googlewebsearch"})
PLAN_TOOLS = frozenset({"todowrite", "writetodos", "updatetodos", "todo"})

PATH_KEYS = ("file_path", "path", "filePath", "absolute_path", "notebook_path", "target_file")
OLD_KEYS = ("old_string", "old_str", "oldString", "oldText")
NEW_KEYS = ("new_string", "new_str", "newString", "newText")
CONTENT_KEYS = ("content", "fileText", "contents", "file_text")
QUERY_KEYS = ("query", "pattern", "globPattern", "path")
OTHER_INPUT_CHARS = 8 * 1024  # larger inputs of unknown tools are shown as clipped JSON text

EXIT_CODE_RE = re.compile(r"^\s*Exit code:?\s*(-?\d+)", re.IGNORECASE | re.MULTILINE)
PLAN_STATUSES: dict[str, PlanStatus] = {
    "pending": "pending",
    "todo": "pending",
    "in_progress": "in_progress",
    "inprogress": "in_progress",
    "completed": "completed",
    "done": "completed",
}


@lru_cache(maxsize=512)
def folded(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_plan(tool: str) -> bool:
    return folded(tool) in PLAN_TOOLS


def tool_use(tool: str, call_id: str, args: dict[str, Any]) -> ToolUse:
    """A call the agent just asked for: pending, no output yet."""
    return ToolUse(
        type="tool_use",
        tool=clip(tool or "unknown", 256),
        call_id=clip(call_id, 256),
        status="pending",
        action=tool_action(tool, args),
        output="",
    )


def tool_finished(call: ToolUse, *, failed: bool, output: str, exit_code: int | None) -> ToolUse:
    """`call` with its result. A command's exit code is the one given, else the one its
    output states (`Exit code 1`, as Claude Code and Gemini print it), else 0 if it succeeded;
    a command that exited non-zero failed, whatever the agent calls the tool call."""
    finished = call.copy()
    action = call["action"]
    if action["kind"] == "command":
        code = _exit_code(exit_code, output, failed)
        finished["action"] = {**action, "exit_code": code}
        failed = failed or bool(code)
    status: ToolStatus = "failed" if failed else "done"
    finished["status"] = status
    finished["output"] = clip(output)
    return finished


def _exit_code(given: int | None, output: str, failed: bool) -> int | None:
    if given is not None:
        return given
    stated = EXIT_CODE_RE.search(output)
    if stated:
        return int(stated.group(1))
    return None if failed else 0


def tool_action(tool: str, args: dict[str, Any]) -> ToolAction:
    name = folded(tool)
    if name in COMMAND_TOOLS:
        return {"kind": "command", "command": clip(_command(args)), "exit_code": None}
    if name in EDIT_TOOLS | WRITE_TOOLS | DELETE_TOOLS | PATCH_TOOLS:
        return {"kind": "file_edit", "edits": file_edits(name, args)}
    if name in READ_TOOLS:
        return {"kind": "file_read", "path": _first(args, PATH_KEYS)}
    if name in SEARCH_TOOLS:
        return {"kind": "file_search", "query": _first(args, QUERY_KEYS)}
    if name in FETCH_TOOLS:
        return {"kind": "web_fetch", "url": _first(args, ("url", "prompt"))}
    if name in WEB_SEARCH_TOOLS:
        return {"kind": "web_search", "query": _first(args, ("query",))}
    return {"kind": "other", "input": _input_shown(args)}


def file_edits(name: str, args: dict[str, Any]) -> list[FileEdit]:
    path = _first(args, PATH_KEYS)
    if name in DELETE_TOOLS:
        return [{"path": path, "op": "delete"}]
    if name in PATCH_TOOLS:
        return [{"path": path, "op": "patch", "diff": clip(_first(args, ("patch", "input")))}]
    if name in WRITE_TOOLS:
        return [{"path": path, "op": "write", "content": _first(args, CONTENT_KEYS)}]
    pairs = [dict_of(edit) for edit in list_of(args.get("edits"))] or [args]
    replace = dict_of(args.get("strReplace"))  # Cursor: {"path", "strReplace": {oldText, newText}}
    if replace:
        pairs = [replace]
    return [
        {"path": path, "op": "edit", "old": _first(pair, OLD_KEYS), "new": _first(pair, NEW_KEYS)}
        for pair in pairs
    ]


def plan(todos: Any) -> Plan:
    """A todo list as agents write it: `[{"content"|"text"|"description", "status"}]`, or
    Codex's `[{"text", "completed": bool}]`."""
    entries: list[PlanItem] = []
    for todo in list_of(todos)[:500]:
        todo = dict_of(todo)
        label = _first(todo, ("content", "text", "description", "title"))
        entries.append({"text": label, "status": _plan_status(todo)})
    return Plan(type="plan", items=entries)


def _plan_status(todo: dict[str, Any]) -> PlanStatus:
    if todo.get("completed") is True:
        return "completed"
    raw = str_of(todo.get("status")).lower().removeprefix("todo_status_")
    return PLAN_STATUSES.get(raw, "pending")


def _first(args: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = str_of(args.get(key))
        if value:
            return clip(value)
    return ""


def _command(args: dict[str, Any]) -> str:
    command = args.get("command", args.get("cmd"))
    if isinstance(command, list):
        return shlex.join(str(word) for word in command)
    return str_of(command)


def _input_shown(args: dict[str, Any]) -> Any:
    shown = json.dumps(args)
    return args if len(shown) <= OTHER_INPUT_CHARS else clip(shown, OTHER_INPUT_CHARS)
