"""A normal agent's run through the attempt pipeline, against the same agent run raw.

Usage: .venv/bin/python bench/run.py [--runs N]

The agent prints 200 lines over ~2.3 s (a Perl script that answers `--version` too, run as a
Claude-type profile). Raw is the script into a pipe nobody stores; through Conductor is
`runs.pipeline.attempt_execute` in this process: worktree, version, setup, the agent with its
output stored, commit, status writes (no HTTP, no Celery hand-off: those are the API's). Raw
and through alternate, N of each; prints min / median / max and the median ratio, and where
the time outside the agent goes (the pipeline's own steps, timed around each).
Uses a throwaway data dir with SQLite (embedded mode) unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CONDUCTOR_DATA_DIR", tempfile.mkdtemp(prefix="conductor-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from projects.models import AgentProfile, Project  # noqa: E402
from runs import diffs, diffwatch, pipeline, services, workspace  # noqa: E402
from runs.models import Run  # noqa: E402

AGENT = """#!/usr/bin/perl
if (($ARGV[0] // "") eq "--version") { print "bench-agent 1.0\\n"; exit 0 }
$| = 1;
for my $i (1..200) {
    print "line $i of a normal agent's output\\n";
    select(undef, undef, undef, 0.0115);
}
"""


def setup(work: Path) -> Path:
    agent = work / "agent.pl"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    repo = work / "repo"
    repo.mkdir()
    for n in range(200):
        (repo / f"f{n}.txt").write_text(f"{n}\n")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=repo, check=True
        )
    Project.objects.create(id="bench", project_root=str(repo))
    AgentProfile.objects.create(name="bench-agent", agent_type="claude", command=str(agent))
    return agent


STEPS: dict[str, list[float]] = defaultdict(list)


def timed(owner: Any, name: str) -> None:
    """Time every call of `owner.name` into STEPS (the bench's own stopwatch)."""
    inner: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            STEPS[name].append(time.perf_counter() - start)

    setattr(owner, name, wrapper)


def raw(agent: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(agent)], stdout=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def through(api: APIClient, n: int) -> float:
    body = {"project_id": "bench", "task_id": f"t{n}", "agent_type": "bench-agent", "prompt": "go"}
    response = api.post("/api/v1/tasks", body, format="json")
    assert response.status_code == 201, response.content
    run = Run.objects.get(id=response.json()["run_id"])
    start = time.perf_counter()
    pipeline.attempt_execute(run.attempt_id)
    wall = time.perf_counter() - start
    run.refresh_from_db()
    assert run.status == "success" and run.log_lines == 200, (run.status, run.error_summary)
    return wall


def summary(values: list[float]) -> str:
    return (
        f"{min(values) * 1000:.0f} / {statistics.median(values) * 1000:.0f} / "
        f"{max(values) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    agent = setup(Path(tempfile.mkdtemp(prefix="conductor-bench-run-")))
    api = APIClient()
    through(api, -1)  # warm: imports, the first connection
    timed(workspace, "workspace_prepare")
    for name in ("_setup_ok", "message_append", "_execute"):
        timed(pipeline, name)
    timed(workspace, "commit_if_dirty")
    timed(diffs, "snapshot_store")
    timed(diffwatch, "_watch_start")  # the live diff's watch: set up before the agent starts
    timed(diffwatch.DiffWatch, "stop")  # and stopped after it exits
    for name in ("_stdout_ends", "_write_output"):
        timed(pipeline, name)
    for name in ("run_claim", "run_finish", "attempt_finish"):
        timed(services, name)
    raws, throughs = [], []
    for n in range(args.runs):
        raws.append(raw(agent))
        throughs.append(through(api, n))
    extra = [t - r for t, r in zip(throughs, raws, strict=True)]
    print(
        f"normal run, {args.runs} each: raw {summary(raws)}; through Conductor "
        f"{summary(throughs)}; extra {summary(extra)}; "
        f"ratio of medians {statistics.median(throughs) / statistics.median(raws):.3f}"
    )
    steps = ", ".join(f"{k} {statistics.median(v) * 1000:.1f}" for k, v in STEPS.items())
    print(f"median ms per run of each step: {steps}")


if __name__ == "__main__":
    main()
