"""The Celery app. Embedded mode uses the in-memory broker inside `conductor serve`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

app = Celery("conductor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["runs"])
app.autodiscover_tasks(["runs"], related_name="owner")
