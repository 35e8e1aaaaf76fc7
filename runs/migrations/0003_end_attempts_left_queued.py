"""Attempts that a stop during their start left `queued` (a run-only status) could never end:
their task read `idle` and could not be deleted. They end `stopped`, as their run did."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def end_attempts_left_queued(apps: Any, schema_editor: Any) -> None:
    Attempt = apps.get_model("runs", "Attempt")
    Attempt.objects.filter(status="queued").update(
        status="stopped", error_summary="stopped before it started"
    )


class Migration(migrations.Migration):
    dependencies = [("runs", "0002_attempt_admitted_at_and_more")]

    operations = [migrations.RunPython(end_attempts_left_queued, migrations.RunPython.noop)]
