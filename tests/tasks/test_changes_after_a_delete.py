"""A change that read its task or attempt before a delete committed, and writes after it: a
404 in the one error shape, nothing written (it wrote rows that failed their foreign key at
the commit, a 500, or read the row again and raised DoesNotExist). Also on PostgreSQL, where
the foreign keys are checked at the commit too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conductor_site.errors import DomainError
from projects import storage
from projects.models import Project
from runs.models import Attempt, Run
from tasks import drafts, images, services
from tasks.models import Draft, Image, Task
from tests.projects.builders import make_run, make_task
from tests.tasks.test_images import png

pytestmark = [pytest.mark.production, pytest.mark.django_db(transaction=True)]

CHANGES: dict[str, Callable[[Task, Attempt], Any]] = {
    "draft": lambda task, attempt: drafts.draft_save(
        attempt, version=0, prompt="next", queued=False
    ),
    "follow-up": lambda task, attempt: services.attempt_followup(attempt, "next"),
    "move": lambda task, attempt: services.task_move(task, Task.Column.DONE),
    "image": lambda task, attempt: images.image_upload(
        task, SimpleUploadedFile("shot.png", png(), content_type="image/png")
    ),
    "attempt": lambda task, attempt: services.attempt_submit(task, agent="shell", prompt="x"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_to_a_task_deleted_meanwhile_is_404_and_writes_nothing(change: str) -> None:
    task = make_task(Project.objects.create(id="demo"), "t1")
    attempt = make_run(task).attempt
    services.task_delete(Task.objects.get(pk=task.pk))

    with pytest.raises(DomainError) as refused:
        CHANGES[change](task, attempt)

    assert refused.value.status_code == 404, refused.value
    assert not (Draft.objects.exists() or Image.objects.exists() or Run.objects.exists())
    assert not Attempt.objects.exists()
    images_dir = storage.images_dir("demo")
    assert not images_dir.exists() or not any(images_dir.iterdir())
