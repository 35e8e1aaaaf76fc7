"""What runs tells the apps that stand on it, without importing them: runs is execution and
knows nothing of planning. `tasks` connects its receivers in `TasksConfig.ready()`."""

from __future__ import annotations

from django.dispatch import Signal

# An attempt's process chain ended, whatever its outcome: `attempt_id=`. Sent by the Celery
# task that ran it, after the attempt's state was written (the planner may admit what waited).
attempt_finished = Signal()

# Every heartbeat pass of a worker's (or the production server's) housekeeping: periodic work
# of other apps, a safety net for what an unseen `attempt_finished` would have done.
housekeeping = Signal()

# An attempt was landed (runs/landing.py): `attempt=`, `change=` (`merged`, `rebased`, `pr`).
# Sent inside the transaction that recorded it, so what a receiver writes commits with it.
attempt_changed = Signal()
