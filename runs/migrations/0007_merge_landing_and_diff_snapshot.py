from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    """Joins the two migrations written side by side: landing's Attempt fields and the
    diff snapshots."""

    dependencies = [
        ("runs", "0006_attempt_landing"),
        ("runs", "0006_diff_snapshot"),
    ]

    operations: list[migrations.operations.base.Operation] = []
