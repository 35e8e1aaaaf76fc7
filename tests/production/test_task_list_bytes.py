"""Production mode: the task lists' raw SQL (`tasks.list_sql`) on PostgreSQL answers the bytes
the model-based reading does, on the same tricky project as the embedded tests
(`tests/tasks/test_task_list_bytes.py`): PostgreSQL's own time text, jsonb read as text,
booleans and NULLs."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.tasks.test_task_list_bytes import (
    test_an_empty_project_has_an_empty_page,
    test_every_page_answers_what_the_orm_reading_does,
    test_the_whole_list_answers_what_the_models_say,
)

pytestmark = pytest.mark.production

__all__ = [
    "test_an_empty_project_has_an_empty_page",
    "test_every_page_answers_what_the_orm_reading_does",
    "test_the_whole_list_answers_what_the_models_say",
]


def test_these_run_on_postgresql(db: None) -> None:
    assert connection.vendor == "postgresql"
