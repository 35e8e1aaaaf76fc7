"""Self-update as a drain (CONTRACT.md): there is no binary to swap, so `binary_path` names an
executable restart hook. A request defers until active root runs reach zero (task creation is
refused meanwhile: the gate is shared with admission), then the hook runs once; a failure leaves
`failed` with `last_error` and lets the queued tasks in again.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from runs.selectors import rfc3339
from tasks import planner
from tasks.models import Gate

log = logging.getLogger(__name__)

HOOK_TIMEOUT = 600


class DrainConflict(Exception):
    pass


def hook_path_error(path: str) -> str:
    """What is wrong with a restart hook path ('' when it is usable)."""
    if not path or not os.path.isabs(path):
        return "binary_path must be an absolute path"
    if not Path(path).is_file():
        return f"binary_path {path} does not exist"
    if not os.access(path, os.X_OK):
        return f"binary_path {path} is not executable"
    return ""


def update_request(binary_path: str) -> Gate:
    with transaction.atomic():
        gate = planner.gate_locked()
        if gate.draining:
            raise DrainConflict(f"a self-update is already {gate.state}")
        gate.state = Gate.State.DEFERRED
        gate.binary_path = binary_path
        gate.requested_at = timezone.now()
        gate.started_at = gate.finished_at = None
        gate.active_runs_at_request = planner.active_root_attempts()
        gate.last_error = gate.last_note = ""
        gate.save()
    drain_tick()
    gate.refresh_from_db()
    return gate


def drain_tick() -> None:
    """Once no root run is active, move `deferred` → `applying` and run the hook."""
    with transaction.atomic():
        gate = planner.gate_locked()
        if gate.state != Gate.State.DEFERRED or planner.active_root_attempts() > 0:
            return
        gate.state, gate.started_at = Gate.State.APPLYING, timezone.now()
        gate.save()
    threading.Thread(
        target=_apply, args=(gate.binary_path,), name="self-update", daemon=True
    ).start()


def _apply(binary_path: str) -> None:
    error = ""
    try:
        done = subprocess.run(
            [binary_path],
            capture_output=True,
            text=True,
            timeout=HOOK_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            error = f"restart hook exited {done.returncode}: {(done.stderr or done.stdout)[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        error = f"restart hook failed: {exc}"
    state = Gate.State.FAILED if error else Gate.State.IDLE
    note = "" if error else "restart hook completed; task starts resumed"
    Gate.objects.filter(id=1, state=Gate.State.APPLYING).update(
        state=state, finished_at=timezone.now(), last_error=error, last_note=note
    )
    if error:
        log.error("self-update: %s", error)
    planner.admit()


def gate_to_api(gate: Gate) -> dict[str, Any]:
    data: dict[str, Any] = {
        "state": gate.state,
        "active_runs_now": planner.active_root_attempts(),
        "active_runs_at_request": gate.active_runs_at_request,
        "binary_path": gate.binary_path,
        "requested_at": rfc3339(gate.requested_at),
        "started_at": rfc3339(gate.started_at),
        "finished_at": rfc3339(gate.finished_at),
        "last_note": gate.last_note,
    }
    if gate.state == Gate.State.FAILED or gate.last_error:
        data["last_error"] = gate.last_error
    return data


def gate_current() -> Gate:
    gate, _ = Gate.objects.get_or_create(id=1)
    return gate


def start_watcher(interval: float = 0.5) -> None:
    """In the server process: finish a pending drain as soon as the last root run ends."""

    def watch() -> None:
        stop, last_error = threading.Event(), ""
        while not stop.wait(interval):
            try:
                drain_tick()
                last_error = ""
            except Exception as exc:
                if str(exc) != last_error:  # say it once, not twice a second
                    log.warning("self-update watcher: %s; retrying", exc)
                last_error = str(exc)

    threading.Thread(target=watch, name="drain-watcher", daemon=True).start()
