"""`depends_on` makes a graph of each project's tasks; no task may wait on itself, directly or
through others, or it and everything after it would wait forever. Checked when a task is
created, under the admission gate's lock (`task_submit`), so two requests cannot close a cycle
between them."""

from __future__ import annotations

from tasks.models import Task


class DependencyCycle(ValueError):
    """A 400: the request names the cycle."""


def dependency_cycle_refuse(*, project_id: str, task_id: str, depends_on: list[str]) -> None:
    if cycle := dependency_cycle(project_id, task_id, depends_on):
        raise DependencyCycle(f"depends_on would make a cycle: {' → '.join(cycle)}")


def dependency_cycle(project_id: str, task_id: str, depends_on: list[str]) -> list[str] | None:
    """The path `task_id → … → task_id` that `depends_on` would close, or None."""
    graph: dict[str, list[str]] = dict(
        Task.objects.filter(project_id=project_id)
        .exclude(depends_on=[])
        .values_list("task_id", "depends_on")
    )
    graph[task_id] = depends_on
    stack, seen = [[task_id]], {task_id}
    while stack:
        path = stack.pop()
        for dep in graph.get(path[-1], []):
            if dep == task_id:
                return [*path, dep]
            if dep not in seen:
                seen.add(dep)
                stack.append([*path, dep])
    return None
