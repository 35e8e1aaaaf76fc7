"""Message bus fixtures: a project without a repository, a task on it, and a run of that task."""

from __future__ import annotations

import pytest

from projects.models import Project
from runs.models import Attempt, Run
from tasks.models import Task


@pytest.fixture
def demo(db: None) -> Project:
    return Project.objects.create(id="demo")


def make_task(project: Project, task_id: str) -> Task:
    return Task.objects.create(project=project, task_id=task_id, prompt="p", agent_type="shell")


@pytest.fixture
def t1(demo: Project) -> Task:
    return make_task(demo, "t1")


@pytest.fixture
def run_of_t1(t1: Task) -> Run:
    return Run.objects.create(attempt=Attempt.objects.create(task=t1, agent="shell"))
