"""Test settings: a throwaway data dir and short timings, then the real settings."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("CONDUCTOR_DATA_DIR", tempfile.mkdtemp(prefix="conductor-test-"))
os.environ.setdefault("CONDUCTOR_STOP_GRACE_SECONDS", "1")
os.environ.setdefault("CONDUCTOR_HEARTBEAT_SECONDS", "0.5")
os.environ.setdefault("CONDUCTOR_HEARTBEAT_TIMEOUT_SECONDS", "30")

from conductor_site.settings import *  # noqa: F403
