"""Starting the two kinds of process: the server (`conductor serve`) and a worker.

`conductor serve --processes N` (production mode only) serves from N processes on one
listening socket: the first binds it, does everything done once (the data dir lock,
migrations, the reconciler), then starts N-1 more that inherit the socket
(`INHERITED_LISTENER`) and only serve; the kernel gives each new connection to one of them.
A connection stays with its process, so an SSE stream or WebSocket lives in the process that
accepted it, and follows what any process appends through the Redis channel layer.
Embedded mode keeps one process: its worker and its in-memory channel layer live there.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import subprocess
import sys
from functools import partial
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError

from conductor_site.datadir import DataDirBusy, data_dir_lock

log = logging.getLogger("conductor")

INHERITED_LISTENER = "CONDUCTOR_INHERITED_LISTENER"  # the socket's fd, in a serving process
PARENT_CHECK_SECONDS = 1.0


def run_server(host: str, port: int, processes: int = 1) -> int:
    """Lock the data dir and bind the port before anything else: a second server on the same
    data dir, or a port in use, fails the start while nothing has been recovered (a recovery
    would mark the live server's runs crashed and kill their agents)."""
    # Importing daphne.server installs Twisted's asyncio reactor: it must come first.
    from daphne.server import twisted_loop
    from twisted.internet import reactor

    from conductor_site.api import conductor_version
    from conductor_site.live import publish
    from projects.layout import data_dir_migrate
    from runs import services
    from runs.supervisor import let_agents_take_sigint, supervisor
    from tasks import drain, planner

    try:
        data_dir_lock(settings.DATA_DIR)
        listener = listening_socket(host, port)
    except (DataDirBusy, OSError) as exc:
        print(f"conductor: {exc}", file=sys.stderr)
        return 2
    let_agents_take_sigint()
    call_command("migrate", interactive=False, verbosity=0)
    data_dir_migrate()
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
    serving = start_serving_processes(listener, processes - 1)
    reactor.addSystemEventTrigger("before", "shutdown", lambda: stop_processes(serving))  # type: ignore[arg-type]
    print(
        f"Conductor {conductor_version()} ({mode}) on http://{url_host}:{port}/ "
        f"— data in {settings.DATA_DIR}" + (f"; {processes} processes" if processes > 1 else ""),
        flush=True,
    )
    serve_on(listener)
    if worker is not None and thread is not None:
        worker.stop()
        thread.join(10)
    return 0


def start_serving_processes(listener: socket.socket, count: int) -> list[subprocess.Popen[bytes]]:
    """`count` more `conductor serve` processes on `listener` (same arguments, same
    environment), which only serve."""
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    return [
        subprocess.Popen(
            [sys.executable, "-c", "from conductor_site.cli import main; main()", *sys.argv[1:]],
            env={**os.environ, INHERITED_LISTENER: str(fd)},
            pass_fds=(fd,),
        )
        for _ in range(count)
    ]


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def serve_inherited(fd: int) -> int:
    """A serving process of `--processes N`: the socket its parent bound, nothing else. It
    stops when the parent goes (terminated by it, or checked every second)."""
    from daphne.server import twisted_loop
    from twisted.internet import reactor, task

    from conductor_site.live import publish

    listener = socket.socket(fileno=fd)
    parent = os.getppid()
    publish.set_loop(twisted_loop)
    reactor.addSystemEventTrigger("before", "shutdown", publish.close)  # type: ignore[arg-type]

    def parent_gone() -> None:
        if os.getppid() != parent:
            reactor.stop()  # type: ignore[misc]

    task.LoopingCall(parent_gone).start(PARENT_CHECK_SECONDS, now=False)
    serve_on(listener)
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` and listening; OSError naming the address if not."""
    host = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted does
    try:
        listener.bind(address)
        listener.listen(socket.SOMAXCONN)
    except OSError as exc:
        listener.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return listener


def serve_on(listener: socket.socket) -> None:
    """Daphne, serving on a socket bound before (Twisted adopts it) until shutdown."""
    from channels.routing import get_default_application
    from daphne.http_protocol import HTTPFactory, WebRequest
    from daphne.server import Server
    from twisted.internet import reactor

    from conductor_site.live.backpressure import SendBuffers, close_wait_seconds

    class BodyAsSentHTTPFactory(HTTPFactory):
        """Daphne's, but its requests leave a POST's body alone. Twisted parses a form's
        fields out of it (and its Content-Type through the `email` package, ~6% of the
        server's CPU per bus append in py-spy) for `request.args`, which Daphne never
        reads; the ASGI app gets the body as sent either way."""

        def log(self, request: Any) -> None:
            """Not Twisted's access line too: formatted for each request, it went nowhere
            (Daphne sends Twisted's log nowhere and writes its own access log)."""

        def buildProtocol(self, addr: Any) -> Any:
            protocol = super().buildProtocol(addr)
            protocol.requestFactory = partial(WebRequest, parsePOSTFormSubmission=False)
            return protocol

    class AdoptingServer(Server):
        def __init__(self) -> None:
            # Daphne exits without an endpoint string; the socket is adopted instead, once
            # its factory exists (`ready_callable` runs just before the reactor does).
            super().__init__(
                SendBuffers(get_default_application()),
                endpoints=["adopted"],
                ready_callable=self.adopt,
                application_close_timeout=5,
            )
            self.endpoints: list[str] = []

        def adopt(self) -> None:
            self.http_factory = BodyAsSentHTTPFactory(self)
            self.ws_factory.setProtocolOptions(closeHandshakeTimeout=close_wait_seconds())
            listener.setblocking(False)  # Twisted accepts until there is nothing left
            reactor.adoptStreamPort(listener.fileno(), listener.family, self.http_factory)
            listener.close()  # Twisted holds its own copy of the descriptor

    server = AdoptingServer()
    # What was loaded to start (Django, the URL conf, the app registry: most of the heap) is
    # moved out of the collector's reach, so the collections a request's allocations set off
    # no longer walk it (gc_collect_main was ~5% of a task page's samples).
    gc.freeze()
    server.run()


def run_worker(concurrency: int | None, loglevel: str) -> int:
    from celery.signals import worker_ready, worker_shutting_down

    from conductor_site.celery import SHARED_QUEUE, app, worker_queue
    from projects.layout import data_dir_migrate
    from runs.supervisor import supervisor

    name = supervisor().name
    try:
        data_dir_migrate()
    except DatabaseError as exc:  # no tables yet: the first `conductor serve` makes them
        log.warning("the data dir's layout is not checked: %s", exc)

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
