"""SSE while Redis (the channel layer) is down: a stream replays from the database at once,
and a live one follows again once Redis is back. A private `redis-server` the test starts
and stops; PostgreSQL as in every production test."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from asgiref.sync import async_to_sync
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings

from messagebus import publish
from messagebus.publish import run_group
from projects.models import Project
from runs.models import Attempt, LogChunk, Run, RunStatus
from tasks.models import Task
from tests.conftest import wait_for
from tests.messagebus.test_stream_support import Conductor, EventStream, is_done, logs
from tests.processes import Server

pytestmark = pytest.mark.production

PORT = 6394  # this suite's private Redis
REDIS_URL = f"redis://127.0.0.1:{PORT}/0"
STALL = 10.0  # what a stream waited before anything arrived, Redis down
PROMPTLY = STALL / 2


class PrivateRedis:
    """`redis-server` on `PORT`, started and stopped by the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen(
            ["redis-server", "--port", str(PORT), "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=PORT)
        wait_for(lambda: _answers(client), 30, "the private redis-server")

    def stop(self) -> None:
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait(30)
            self.popen = None


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        if os.getenv("CONDUCTOR_REQUIRE_PRODUCTION"):
            pytest.fail("CONDUCTOR_REQUIRE_PRODUCTION is set but redis-server is missing")
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def conductor(transactional_db: None, tmp_path: Path) -> Iterator[Conductor]:
    """`conductor serve` on the test database with its channel layer on the private Redis
    (down until a test starts it). Keepalive resyncs are far apart: only the join and live
    events can bring news within a test."""
    db = connection.settings_dict
    database = f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    server = Server(
        tmp_path / "data",
        tmp_path / "server.log",
        DATABASE_URL=database,
        REDIS_URL=REDIS_URL,
        CONDUCTOR_SSE_KEEPALIVE_SECONDS="300",
        CONDUCTOR_HEARTBEAT_TIMEOUT_SECONDS="600",
    )
    yield Conductor(server, tmp_path / "data")
    server.terminate()


def a_run(status: str, lines: list[str]) -> Run:
    task = Task.objects.create(
        project=Project.objects.get_or_create(id="demo")[0], task_id="t1", prompt="p"
    )
    now = timezone.now()
    # A running attempt with a heartbeat: the server's reaper crashes one without.
    attempt = Attempt.objects.create(task=task, agent="shell", status=status, heartbeat_at=now)
    ended = now if status != RunStatus.RUNNING else None
    run = Run.objects.create(
        attempt=attempt,
        status=status,
        started_at=now,
        ended_at=ended,
        heartbeat_at=now,
        exit_code=0 if ended else None,
    )
    for line in lines:
        add_line(run, line)
    return run


def add_line(run: Run, line: str) -> None:
    seq = LogChunk.objects.filter(run=run).count() + 1
    LogChunk.objects.create(
        run=run,
        seq=seq,
        stream="stdout",
        text=f"{line}\n",
        line_count=1,
        created_at=timezone.now(),
    )


def ring(run: Run) -> None:
    """A doorbell through the private Redis, as a worker's writer sends it."""
    layer = RedisPubSubChannelLayer(hosts=[REDIS_URL])
    async_to_sync(layer.group_send)(run_group(run.id), {"type": "run.changed", "run_id": run.id})


def test_a_finished_runs_stream_arrives_whole_and_promptly_with_redis_down(
    private_redis: PrivateRedis, conductor: Conductor
) -> None:
    run = a_run(RunStatus.SUCCESS, [f"line {n}" for n in range(500)])
    started = time.monotonic()

    with EventStream(conductor, f"/api/v1/runs/{run.id}/stream") as stream:
        events = stream.rest(timeout=PROMPTLY)

    assert time.monotonic() - started < PROMPTLY
    assert [e.json()["line"] for e in logs(events)] == [f"line {n}" for n in range(500)]
    assert events[-2].json() == {"type": "status", "status": "success", "exit_code": 0}
    assert is_done(events[-1])


def test_a_live_stream_follows_again_once_redis_is_back(
    private_redis: PrivateRedis, conductor: Conductor
) -> None:
    run = a_run(RunStatus.RUNNING, ["before"])

    with EventStream(conductor, f"/api/v1/runs/{run.id}/stream") as stream:
        replayed = stream.until(lambda e: e.json().get("line") == "before", timeout=PROMPTLY)
        add_line(run, "while redis was down")  # published nowhere: Redis is down
        private_redis.start()
        missed = stream.until(lambda e: e.json().get("line") == "while redis was down")
        add_line(run, "live")
        ring(run)
        live = stream.until(lambda e: e.json().get("line") == "live", timeout=PROMPTLY)
        Run.objects.filter(id=run.id).update(status=RunStatus.SUCCESS, ended_at=timezone.now())
        ring(run)
        ended = stream.rest(timeout=PROMPTLY)

    lines = [e.json()["line"] for e in logs(replayed + missed + live)]
    assert lines == ["before", "while redis was down", "live"]
    assert ended[-2].json()["status"] == "success" and is_done(ended[-1])
    assert "Traceback" not in conductor.server.output()


@pytest.fixture
def hanging_redis() -> Iterator[None]:
    """A port that takes connections and never answers: Redis hung, or a black hole."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", PORT))
        listener.listen(64)
        yield


def test_a_stream_does_not_wait_on_a_redis_that_hangs(
    hanging_redis: None, conductor: Conductor
) -> None:
    run = a_run(RunStatus.FAILED, ["only line"])
    started = time.monotonic()

    with EventStream(conductor, f"/api/v1/runs/{run.id}/stream") as stream:
        events = stream.rest(timeout=PROMPTLY)

    assert time.monotonic() - started < PROMPTLY
    assert [e.json()["line"] for e in logs(events)] == ["only line"]
    assert is_done(events[-1])


def test_publishing_resumes_once_redis_is_back(
    private_redis: PrivateRedis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = "channels_redis.pubsub.RedisPubSubChannelLayer"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [REDIS_URL]}}}
    monkeypatch.setattr(publish, "_outage", publish._Outage())
    monkeypatch.setattr(publish._Outage, "COOL_DOWN_SECONDS", 0.2)
    event = {"type": "run.changed", "run_id": "r1"}

    with caplog.at_level(logging.WARNING, logger="messagebus.publish"):
        publish.publish("run.r1", event)
        publish.publish("run.r1", event)  # in the cool-down: dropped
        private_redis.start()

        def sent() -> bool:
            publish.publish("run.r1", event)
            return not publish._outage.failing

        wait_for(sent, 30, "a publish to the restarted Redis")

    messages = [r.getMessage() for r in caplog.records if r.name == "messagebus.publish"]
    assert len(messages) == 2
    assert "live events are dropped" in messages[0]
    assert messages[1].startswith("publishing works again")
