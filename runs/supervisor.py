"""Agent processes inside a worker: spawning, reading, stopping, heartbeats and reaping.

Each process gets its own session (so its whole group can be signalled, `runs.processes`), two
reader threads and no Python process of its own; one housekeeping thread per worker heartbeats
the runs it owns, picks up stop requests made in other processes, runs the reconciler (reaps
runs whose worker vanished, re-sends starts no worker claimed: runs/reconcile.py) and sends
`runs.signals.housekeeping` for the apps above (the planner admits what waits).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.db import close_old_connections, connection

from conductor_site.db import connection_release
from conductor_site.live.history import events_prune_due
from runs import services
from runs.logsink import LineSplitter, LogTotals, log_writer
from runs.processes import kill_group, run_processes_kill
from runs.signals import housekeeping

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024


@dataclass
class Invocation:
    argv: list[str]
    cwd: str
    env: dict[str, str]
    stdin: str | None = None
    # Shown every piece of complete lines the process prints, from its reader threads (a dev
    # server's URL is caught here); it must not raise or block for long.
    watch: Callable[[str], None] | None = None


@dataclass
class ProcessResult:
    exit_code: int
    stop_reason: str = ""  # "user" or "shutdown" when Conductor ended the process
    spawn_error: str = ""
    totals: LogTotals = field(default_factory=LogTotals)


class RunProcess:
    """One running process group and the escalation that stops it."""

    def __init__(self, run_id: str, popen: subprocess.Popen[bytes]) -> None:
        self.run_id = run_id
        self.popen = popen
        self.stop_reason = ""
        self.exited = threading.Event()

    def stop(self, reason: str) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to the group, a grace period apart."""
        if self.stop_reason or self.exited.is_set():
            return
        self.stop_reason = reason
        threading.Thread(target=self._escalate, name=f"stop-{self.run_id}", daemon=True).start()

    def _escalate(self) -> None:
        grace = float(settings.CONDUCTOR["STOP_GRACE_SECONDS"])
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            kill_group(self.popen.pid, sig)
            if self.exited.wait(grace):
                return


def let_agents_take_sigint() -> None:
    """Stops begin with SIGINT. A server started in the background by a script
    (`conductor serve &`) inherits SIGINT and SIGQUIT ignored, and an ignored signal stays
    ignored across exec: its agents would only die at the SIGTERM a grace period later.
    A caught signal is reset by exec, so catching them with a no-op keeps this process deaf
    to them and gives every agent the default action. Call from the main thread."""
    for sig in (signal.SIGINT, signal.SIGQUIT):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, _ignore_signal)


def _ignore_signal(signum: int, frame: object) -> None:
    """Caught, not ignored: see `let_agents_take_sigint`."""


def _read_pipe(
    pipe: IO[bytes], run_id: str, stream: str, watch: Callable[[str], None] | None
) -> None:
    splitter = LineSplitter()
    writer = log_writer()
    fd = pipe.fileno()
    try:
        while data := os.read(fd, READ_SIZE):
            text = splitter.feed(data)
            if watch is not None and text:
                watch(text)
            writer.append(run_id, stream, text)
    except OSError:
        pass
    finally:
        writer.append(run_id, stream, splitter.finish())
        pipe.close()


def _feed_stdin(pipe: IO[bytes], text: str) -> None:
    try:
        pipe.write(text.encode())
    except (BrokenPipeError, OSError):
        pass
    finally:
        with suppress(OSError):
            pipe.close()


def execute(run_id: str, invocation: Invocation, on_spawn: object = None) -> ProcessResult:
    """Run one process to its end, storing everything it prints; never raises for the
    process's own failures (a missing binary is a result, not an exception)."""
    writer = log_writer()
    writer.open_run(run_id)
    try:
        popen = subprocess.Popen(
            invocation.argv,
            cwd=invocation.cwd,
            env=invocation.env,
            stdin=subprocess.PIPE if invocation.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        totals = writer.close_run(run_id)
        code = 126 if isinstance(exc, PermissionError) else 127
        return ProcessResult(
            code,
            spawn_error=f"could not start {invocation.argv[0]!r}: {exc.strerror or exc}",
            totals=totals,
        )
    process = RunProcess(run_id, popen)
    supervisor().add(process)
    if callable(on_spawn):
        on_spawn(popen.pid)
    threads = _start_io(popen, run_id, invocation)
    connection_release()  # the agent may run for hours; nothing here needs the database
    code = popen.wait()
    process.exited.set()
    if code < 0:  # killed by a signal: report it the way shells do (SIGKILL → 137)
        code = 128 - code
    run_processes_kill(run_id, leader=popen.pid)  # what the agent left behind
    for thread in threads:
        thread.join(10)
    supervisor().remove(run_id)
    return ProcessResult(code, stop_reason=process.stop_reason, totals=writer.close_run(run_id))


def _start_io(
    popen: subprocess.Popen[bytes], run_id: str, invocation: Invocation
) -> list[threading.Thread]:
    assert popen.stdout is not None and popen.stderr is not None
    watch, stdin = invocation.watch, invocation.stdin
    threads = [
        threading.Thread(
            target=_read_pipe, args=(popen.stdout, run_id, "stdout", watch), daemon=True
        ),
        threading.Thread(
            target=_read_pipe, args=(popen.stderr, run_id, "stderr", watch), daemon=True
        ),
    ]
    if stdin is not None and popen.stdin is not None:
        threading.Thread(target=_feed_stdin, args=(popen.stdin, stdin), daemon=True).start()
    for thread in threads:
        thread.start()
    return threads


class Supervisor:
    """The worker's registry of live processes and its housekeeping thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._processes: dict[str, RunProcess] = {}
        self._attempts: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._works = False  # runs work (a worker, the embedded server), not only keeps house

    def add(self, process: RunProcess) -> None:
        with self._lock:
            self._processes[process.run_id] = process
        if self._stopping.is_set():
            process.stop("shutdown")

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._processes.pop(run_id, None)

    @contextmanager
    def tracking(self, attempt_id: str) -> Iterator[None]:
        with self._lock:
            self._attempts.add(attempt_id)
        try:
            yield
        finally:
            with self._lock:
                self._attempts.discard(attempt_id)

    def snapshot(self) -> tuple[list[str], list[str]]:
        with self._lock:
            return list(self._processes), list(self._attempts)

    def stop_local(self, run_ids: list[str], reason: str) -> None:
        with self._lock:
            targets = [self._processes[r] for r in run_ids if r in self._processes]
        for process in targets:
            process.stop(reason)

    def start(self) -> None:
        """Recover this worker's leftovers from an earlier life, clean the worktree root of
        orphans (on a thread of its own: heartbeats must not wait for it), then keep house."""
        services.recover_worker(self.name)
        self._works = True
        threading.Thread(target=_orphans_clean, name="worktree-orphans", daemon=True).start()
        self.keep_house()

    def keep_house(self) -> None:
        """Heartbeats, stops and the reconciler on a thread of their own. The production
        server runs it too (without a worker's recovery): with no worker left, someone must
        still reap and re-send."""
        self._thread = threading.Thread(target=self._housekeep, name="housekeeping", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop every local process (the runs end `crashed`: their worker went away)."""
        self._stopping.set()
        with self._lock:
            targets = list(self._processes.values())
        for process in targets:
            process.stop("shutdown")
        for process in targets:
            process.exited.wait(3 * float(settings.CONDUCTOR["STOP_GRACE_SECONDS"]) + 1)

    def _housekeep(self) -> None:
        """Never dies: an error (say, the database restarting) is logged and retried."""
        interval = min(0.5, float(settings.CONDUCTOR["HEARTBEAT_SECONDS"]))
        last_beat, last_error = 0.0, ""
        while not self._stopping.wait(interval):
            try:
                last_beat = self._housekeep_once(last_beat)
                last_error = ""
                connection_release()
            except Exception as exc:
                if str(exc) != last_error:  # say it once, not twice a second
                    log.exception("housekeeping failed; retrying")
                last_error = str(exc)
                with suppress(Exception):
                    close_old_connections()

    def _housekeep_once(self, last_beat: float) -> float:
        from runs.reconcile import reconcile
        from runs.tasks import worktrees_idle_archive

        run_ids, attempt_ids = self.snapshot()
        self.stop_local(services.stop_requested(run_ids), "user")
        now = time.monotonic()
        if now - last_beat < float(settings.CONDUCTOR["HEARTBEAT_SECONDS"]):
            return last_beat
        services.heartbeat(run_ids, attempt_ids, self.name if self._works else "")
        reconcile()
        events_prune_due()  # at most hourly
        housekeeping.send(sender=Supervisor)
        if self._works:
            worktrees_idle_archive(self.name)  # every few minutes, when configured
        return now


def _orphans_clean() -> None:
    from runs.archive import worktree_orphans_clean

    try:
        removed = worktree_orphans_clean()
    except Exception:
        log.exception("the worktree root's orphans were not cleaned")
        return
    finally:
        connection.close()  # this thread ends here
    if removed:
        log.info("removed %d orphan worktrees (their branches stay)", removed)


_supervisor: Supervisor | None = None
_supervisor_lock = threading.Lock()


def worker_name() -> str:
    return str(settings.CONDUCTOR["WORKER_NAME"])


def supervisor() -> Supervisor:
    global _supervisor
    with _supervisor_lock:
        if _supervisor is None:
            _supervisor = Supervisor(worker_name())
        return _supervisor
