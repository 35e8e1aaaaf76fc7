"""The log writer of a `conductor worker` process, on PostgreSQL, when writes fail for real."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from rest_framework.test import APIClient

from projects import storage
from projects.models import Project
from runs.models import LogChunk
from tests.conftest import create_task, log_text, run_finished
from tests.processes import ConductorProcess

pytestmark = pytest.mark.production


@pytest.fixture
def failing_writes(transactional_db: None) -> Iterator[Callable[[], None]]:
    """Every LogChunk insert raises (an InternalError, not an OperationalError) until the
    returned function drops the trigger; dropped after the test in any case."""

    def recover() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS fail_chunks ON runs_logchunk")

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION fail_chunks() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'the disk said no'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER fail_chunks BEFORE INSERT ON runs_logchunk "
            "FOR EACH ROW EXECUTE FUNCTION fail_chunks()"
        )
    yield recover
    recover()


def test_a_worker_retries_failed_log_writes_with_contiguous_seq(
    start_worker: Callable[..., ConductorProcess],
    failing_writes: Callable[[], None],
    api: APIClient,
    project: Project,
) -> None:
    worker = start_worker()
    prompt = 'seq 1 300\nwhile [ ! -f "$CONDUCTOR_TASK_DIR/go" ]; do sleep 0.02; done\nseq 301 600'
    run_id = create_task(api, task_id="t-retry", prompt=prompt)["run_id"]
    worker.wait_output("could not store")
    failing_writes()
    (storage.task_dir("demo", "t-retry") / "go").touch()

    run = run_finished(run_id)

    assert run.status == "success", run.error_summary
    seqs = list(LogChunk.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert log_text(run.id) == "".join(f"{i}\n" for i in range(1, 601))
    assert run.log_lines == 600
