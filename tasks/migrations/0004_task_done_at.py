"""`Task.done_at`: the DONE marker's state in the database, filled from the task folders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import migrations, models

from projects import storage


def done_at_fill(apps: Any, schema_editor: Any) -> None:
    """Each task whose folder holds a DONE marker is done since the marker's mtime (read
    through `projects.storage`, so a planted symlink does not count)."""
    Task = apps.get_model("tasks", "Task")
    done: dict[int, datetime] = {}
    for pk, project_id, task_id in Task.objects.values_list("id", "project_id", "task_id"):
        marker = storage.file_stat(storage.task_dir(project_id, task_id) / "DONE")
        if marker is not None:
            done[pk] = datetime.fromtimestamp(marker.st_mtime, tz=UTC)
    for pk, done_at in done.items():
        Task.objects.filter(id=pk).update(done_at=done_at)


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0003_task_project_created"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="done_at",
            field=models.DateTimeField(
                blank=True,
                help_text="Since when the agent's DONE marker is in the task folder, as the "
                "worker saw it when the task's last run ended; cleared when resume removes it.",
                null=True,
            ),
        ),
        migrations.RunPython(done_at_fill, migrations.RunPython.noop),
    ]
