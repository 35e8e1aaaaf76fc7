"""The apps' floors: messagebus > tasks > runs > projects > conductor_site. An app imports only
the apps below it, counting imports inside functions, so `runs` (execution) knows nothing of
planning and `tasks` hears of an attempt's end through `runs.signals`.

`conductor_site` is the base and also assembles the processes (`server.py`) and the URLs; it is
not checked. What cannot be one-way yet is listed in KNOWN, each with its reason; an entry that
is no longer true fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {"conductor_site": 0, "projects": 1, "runs": 2, "tasks": 3, "messagebus": 4}
CHECKED = ("projects", "runs", "tasks")

KNOWN = {
    # Deleting a project answers 409 while its runs still run (`runs.services.Busy`), in the
    # API and on the dashboard's delete page.
    ("projects/api.py", "runs"),
    ("projects/views.py", "runs"),
    # The project list's last activity and the stats count over tasks, runs and buses.
    ("projects/selectors.py", "messagebus"),
    ("projects/selectors.py", "runs"),
    ("projects/selectors.py", "tasks"),
    # Deleting a project cancels its tasks and retires their worktrees on their workers.
    ("projects/services.py", "runs"),
    ("projects/services.py", "tasks"),
    # The old data-dir layout is moved run folder by run folder.
    ("projects/layout.py", "runs"),
    # The pipeline posts the `task_start` message on the task's bus.
    ("runs/pipeline.py", "messagebus"),
    # A thread's question and its answer are bus messages.
    ("tasks/threads.py", "messagebus"),
}


def parsed(path: Path) -> ast.Module:
    """The module's tree. CPython 3.11 keeps the AST builder's recursion depth in
    per-interpreter state, and a parse that races another thread's (a module compiled on
    import by a test's server thread) can fail with "AST constructor recursion depth
    mismatch" (python/cpython#106905, pytest-dev/pytest#10763; seen once here): parsing is
    pure, so that error is tried again."""
    source = path.read_text()
    for _ in range(2):
        try:
            return ast.parse(source, str(path))
        except SystemError:
            continue
    return ast.parse(source, str(path))


def imported_apps(path: Path) -> set[str]:
    """The apps a module imports, at its top or inside its functions."""
    found: set[str] = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in FLOORS)
    return found


def upward_imports() -> set[tuple[str, str]]:
    """(module, app) for every import of an app on a higher floor than the module's own."""
    upward: set[tuple[str, str]] = set()
    for app in CHECKED:
        for path in sorted((ROOT / app).rglob("*.py")):
            module = path.relative_to(ROOT).as_posix()
            upward.update(
                (module, other) for other in imported_apps(path) if FLOORS[other] > FLOORS[app]
            )
    return upward


def test_apps_import_only_the_floors_below_them() -> None:
    assert upward_imports() - KNOWN == set()


def test_every_known_exception_is_still_true() -> None:
    assert KNOWN - upward_imports() == set()
