"""The Celery worker that runs inside `conductor serve` in embedded mode.

A `WorkController` subclass on a background thread with the threads pool and the in-memory
broker: it installs no signal handlers and leaves stdout and logging alone, unlike
`app.Worker`/`worker_main` (shared/research/embedded-mode.md, Q1).
"""

from __future__ import annotations

import threading
from typing import Any

from celery._state import _set_task_join_will_block  # type: ignore[attr-defined]
from django.conf import settings

from conductor_site.celery import SHARED_QUEUE, app, worker_queue


def start_embedded_worker(name: str) -> tuple[Any, threading.Thread]:
    ready = threading.Event()

    class EmbeddedWorker(app.WorkController):  # type: ignore[name-defined]
        def on_consumer_ready(self, consumer: Any) -> None:
            ready.set()

    worker = EmbeddedWorker(
        pool_cls="threads",
        concurrency=settings.CONDUCTOR["WORKER_CONCURRENCY"],
        hostname=f"{name}@embedded",
        queues=[SHARED_QUEUE, worker_queue(name)],
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    thread = threading.Thread(target=worker.start, name="celery-embedded", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the embedded Celery worker did not start within 30 s")
    _set_task_join_will_block(False)
    return worker, thread
