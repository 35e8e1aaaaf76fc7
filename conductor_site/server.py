"""Starting the two kinds of process: the server (`conductor serve`) and a worker."""

from __future__ import annotations

import logging
import socket
from typing import Any

from django.conf import settings
from django.core.management import call_command

log = logging.getLogger("conductor")


def run_server(host: str, port: int) -> int:
    # Importing daphne.server installs Twisted's asyncio reactor: it must come first.
    from daphne.server import Server, twisted_loop
    from twisted.internet import reactor

    from conductor_site.api import conductor_version
    from messagebus import publish
    from runs import services
    from runs.supervisor import let_agents_take_sigint, supervisor
    from tasks import drain, planner

    let_agents_take_sigint()
    call_command("migrate", interactive=False, verbosity=0)
    publish.set_loop(twisted_loop)
    drain.start_watcher()
    worker = thread = None
    if settings.EMBEDDED:
        from conductor_site.embedded import start_embedded_worker

        recovered = services.recover_embedded()
        if recovered:
            log.warning("%d attempts left unfinished by the last server are now crashed", recovered)
        worker, thread = start_embedded_worker(supervisor().name)
        supervisor().start()
        planner.admit()
    else:
        supervisor().keep_house()  # the reconciler, for when no worker is left

    def before_shutdown() -> None:
        publish.close()
        supervisor().shutdown()

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)  # type: ignore[arg-type]
    url_host = f"[{host}]" if ":" in host else host
    mode = "embedded: SQLite, in-process worker" if settings.EMBEDDED else "production"
    print(
        f"Conductor {conductor_version()} ({mode}) on http://{url_host}:{port}/ "
        f"— data in {settings.DATA_DIR}",
        flush=True,
    )
    from channels.routing import get_default_application

    interface = host.strip("[]").replace(":", r"\:")
    Server(
        get_default_application(),
        endpoints=[f"tcp:port={port}:interface={interface}"],
        application_close_timeout=5,
    ).run()
    if worker is not None and thread is not None:
        worker.stop()
        thread.join(10)
    return 0


def run_worker(concurrency: int | None, loglevel: str) -> int:
    from celery.signals import worker_ready, worker_shutting_down

    from conductor_site.celery import app
    from runs.supervisor import supervisor
    from runs.tasks import SHARED_QUEUE, worker_queue

    name = supervisor().name

    @worker_ready.connect(weak=False)
    def on_ready(**_: Any) -> None:
        supervisor().start()

    @worker_shutting_down.connect(weak=False)
    def on_shutdown(**_: Any) -> None:
        supervisor().shutdown()

    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency or settings.CONDUCTOR['WORKER_CONCURRENCY']}",
            f"--queues={SHARED_QUEUE},{worker_queue(name)}",
            f"--hostname={name}@{socket.gethostname()}",
            "--without-mingle",
            "--without-gossip",
            f"--loglevel={loglevel}",
        ]
    )
    return 0
