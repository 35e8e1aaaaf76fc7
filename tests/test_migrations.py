"""The migrations describe the models: a model change without its migration fails here."""

from __future__ import annotations

from django.core.management import call_command


def test_no_model_change_lacks_a_migration(db: None) -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
