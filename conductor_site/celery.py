"""The Celery app and its queue names. Embedded mode uses the in-memory broker inside
`conductor serve`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

app = Celery("conductor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["runs"])
app.autodiscover_tasks(["runs"], related_name="owner")

# Every worker consumes the shared queue (new attempts) and its own (what needs its worktree:
# follow-ups, retiring a worktree); `runs.tasks.queue_for` routes each message.
SHARED_QUEUE = "conductor"


def worker_queue(worker: str) -> str:
    return f"worker.{worker}"
