"""Two processes merge one attempt at the same moment, on PostgreSQL: the attempt's operation
slot (runs/landing.py) is a conditional update in the database, so one merges and the other is
refused, whichever host it runs on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from projects.models import Project
from tasks.models import Task
from tests.helpers import attempt_with_commits, git_cli
from tests.processes import clean_env
from tests.production.conftest import database_url

pytestmark = pytest.mark.production

MERGER = """
import json, os, sys, time
import django
django.setup()
from runs import landing
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.005)
try:
    merged = landing.attempt_merge(sys.argv[1])
    print(json.dumps({"merged": merged.commit}))
except landing.LandingConflict as exc:
    print(json.dumps({"refused": exc.details["reason"]}))
"""


def test_two_processes_merging_one_attempt_give_one_merge_and_one_refusal(
    transactional_db: None, project: Project, git_repo: Path, tmp_path: Path
) -> None:
    task = Task.objects.create(project=project, task_id="t", prompt="p", agent_type="shell")
    git_cli(git_repo, "checkout", "-q", "-b", "elsewhere")
    attempt = attempt_with_commits(task, [{"a.txt": "a\n"}])
    main = git_cli(git_repo, "rev-parse", "main").strip()
    go = tmp_path / "go"
    env = clean_env(
        DATABASE_URL=database_url(),
        REDIS_URL=os.environ["REDIS_URL"],
        CONDUCTOR_DATA_DIR=str(settings.DATA_DIR),
        DJANGO_SETTINGS_MODULE="conductor_site.settings",
    )
    argv = [sys.executable, "-c", MERGER, attempt.id, str(go)]
    mergers = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in "ab"]
    go.touch()
    outcomes = [json.loads(merger.communicate(timeout=120)[0]) for merger in mergers]

    merged = [o["merged"] for o in outcomes if "merged" in o]
    refused = [o["refused"] for o in outcomes if "refused" in o]
    assert len(merged) == 1 and refused in (["busy"], ["nothing_to_merge"]), outcomes
    assert git_cli(git_repo, "rev-list", f"{main}..main").split() == merged
