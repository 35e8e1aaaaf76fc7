"""Several processes append at once while a reader polls with `after` cursors.

No marker: it runs in the embedded pass (SQLite) and, with DATABASE_URL set, on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from messagebus.models import Message
from messagebus.selectors import messages_after
from projects.models import Project
from tests.conftest import FIXTURES
from tests.messagebus.conftest import make_task

# Also part of the production pass (`-m production`): the same test on PostgreSQL.
pytestmark = pytest.mark.production

WRITERS = 4
APPENDS = 250
REPO = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The database this test runs on, as the writers' DATABASE_URL."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "postgres") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def writers() -> Iterator[list[subprocess.Popen[str]]]:
    """The writer processes a test starts; any still alive afterwards are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for writer in started:
        if writer.poll() is None:
            writer.kill()
        writer.wait(30)


def start_writers(writers: list[subprocess.Popen[str]]) -> None:
    """Start every writer, wait until each is set up, then let them all go at once."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
    }
    writers.extend(
        subprocess.Popen(
            [sys.executable, str(FIXTURES / "bus_writer.py"), str(n), str(APPENDS)],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for n in range(WRITERS)
    )
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.close()


def read_until_writers_exit(writers: list[subprocess.Popen[str]]) -> tuple[list[Message], int]:
    """Poll like a client: `after` = the last msg_id seen. Once every writer has exited, one
    more empty read proves nothing is left. Returns what was read and how many reads had news."""
    seen: list[Message] = []
    cursor: str | None = None
    reads_with_news = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        exited = all(writer.poll() is not None for writer in writers)
        batch = messages_after(project_id="load", after=cursor)
        if batch:
            seen.extend(batch)
            cursor = batch[-1].msg_id
            reads_with_news += 1
        elif exited:
            return seen, reads_with_news
    raise AssertionError("the writers did not finish in time")


def test_concurrent_appends_reach_a_polling_reader_once_each_in_order(
    transactional_db: None, writers: list[subprocess.Popen[str]]
) -> None:
    project = Project.objects.create(id="load")
    for n in range(WRITERS):
        make_task(project, f"t{n}")

    start_writers(writers)
    seen, reads_with_news = read_until_writers_exit(writers)

    assert [writer.returncode for writer in writers] == [0] * WRITERS
    ids = [message.msg_id for message in seen]
    assert len(ids) == WRITERS * APPENDS == len(set(ids))
    assert all(a < b for a, b in pairwise(ids)), "ids must strictly increase"
    assert all(a.pk < b.pk for a, b in pairwise(seen))
    assert reads_with_news > 1, "the reader should have polled while the writers appended"
    by_writer: dict[str, list[int]] = defaultdict(list)
    for message in seen:
        who, number = message.body.split(":")
        by_writer[who].append(int(number))
    assert by_writer == {str(w): list(range(APPENDS)) for w in range(WRITERS)}
    assert [m.msg_id for m in messages_after(project_id="load")] == ids
    task_bus = [m.body for m in messages_after(project_id="load", task_id="t0")]
    assert task_bus == [f"0:{n}" for n in range(1, APPENDS, 2)]
