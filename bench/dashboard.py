"""The dashboard's pages at 10,000 tasks, through a real `conductor serve` (embedded mode,
throwaway data dir, no key: no sign-in).

Usage: .venv/bin/python bench/dashboard.py [--tasks T] [--questions Q] [--messages M]
    [--requests N]

The tasks (each with one finished agent run) are seeded straight into the database, all in
the board's `todo` column (the worst case: one column holds them all); Q of them (every
T/Q-th) have an open question on their bus, so the board shows their "needs input" badges
(and its "needs input" filter, its first page and one deeper in its To do, shows them only);
task-0's bus holds M messages more (every tenth a reply to the one before it), for the task
page's threads: its newest page, a page deep in it ("Show earlier"), and the project's merged.
For each page, one client reads it N times: the wall time per request (p50 / p99) and the
server's own CPU per request (user + system, from /proc), with `GET /api/v1/health` as the
floor of a bare request. The task, attempt and review pages are those of the middle task.
Then, the server stopped, Now with `--active` runs queued (at most 200 are shown), read in
this process through Django's test client: a server would take seeded queued runs for work a
lost broker dropped, and run them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import time

from api import CONDUCTOR, ROOT, Server, free_port, percentiles, seed_tasks, server_env

PAGES = (
    ("projects list  GET /ui/", "/ui/"),
    ("board          GET /ui/projects/list/", "/ui/projects/list/"),
    (
        "column page    GET /ui/projects/list/columns/todo/?offset=<n>",
        "/ui/projects/list/columns/todo/?offset={n}",
    ),
    ("board search   GET /ui/projects/list/?q=task-999", "/ui/projects/list/?q=task-999"),
    (
        "board filters  GET /ui/projects/list/?q=true&agent=shell&status=running",
        "/ui/projects/list/?q=true&agent=shell&status=running",
    ),
    (
        "needs input    GET /ui/projects/list/?status=needs-input",
        "/ui/projects/list/?status=needs-input",
    ),
    (
        "its next page  GET …/columns/todo/?status=needs-input&offset=<n>",
        "/ui/projects/list/columns/todo/?status=needs-input&offset={q}",
    ),
    ("stats bar      GET /ui/projects/list/stats/", "/ui/projects/list/stats/"),
    ("task           GET /ui/projects/list/tasks/task-<n>/", "/ui/projects/list/tasks/task-{t}/"),
    ("attempt        GET /ui/attempts/<a>/", "/ui/attempts/{a}/"),
    ("attempt review GET /ui/attempts/<a>/review/", "/ui/attempts/{a}/review/"),
    (
        "task bus page  GET …/tasks/task-0/messages/page/",
        "/ui/projects/list/tasks/task-0/messages/page/",
    ),
    (
        "earlier page   GET …/tasks/task-0/messages/page/?before=<middle>",
        "/ui/projects/list/tasks/task-0/messages/page/?before=MSG-bench-b-000000005000",
    ),
    ("project bus    GET /ui/projects/list/messages/page/", "/ui/projects/list/messages/page/"),
    ("now            GET /ui/now/", "/ui/now/"),
    ("now, live      GET /ui/now/live/", "/ui/now/live/"),
    ("agents         GET /ui/agents/", "/ui/agents/"),
    ("floor          GET /api/v1/health", "/api/v1/health"),
)


def seed_questions(env: dict[str, str], tasks: int, questions: int) -> None:
    """An open QUESTION on the bus of every (tasks // questions)-th task, rows straight in."""
    script = f"""
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "conductor_site.settings"
django.setup()
from messagebus.models import Message
from tasks.models import OpenQuestion
from tasks.models import Task
step = max({tasks} // {questions}, 1)
asking = list(Task.objects.filter(project_id="list").order_by("id"))[::step][:{questions}]
asked = Message.objects.bulk_create(
    Message(msg_id=f"MSG-bench-{{n:012d}}", project_id="list", task=task, type="QUESTION",
            body="which one?")
    for n, task in enumerate(asking)
)
OpenQuestion.objects.bulk_create(OpenQuestion(message=m, task=m.task) for m in asked)
"""
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)


def seed_messages(env: dict[str, str], messages: int) -> None:
    """`messages` rows on task-0's bus, straight in (msg_ids in pk order, as appends make them)."""
    script = f"""
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "conductor_site.settings"
django.setup()
from messagebus.models import Message
from tasks.models import Task
task = Task.objects.get(project_id="list", task_id="task-0")
Message.objects.bulk_create(
    Message(msg_id=f"MSG-bench-b-{{n:012d}}", project_id="list", task=task,
            type="PROGRESS", body=f"step {{n}}: " + "x" * 200,
            parents=[f"MSG-bench-b-{{n - 1:012d}}"] if n % 10 == 9 else [])
    for n in range({messages})
)
"""
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)


def page(conn: http.client.HTTPConnection, path: str) -> None:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status}")


def attempt_of(conn: http.client.HTTPConnection, task: int) -> str:
    conn.request("GET", f"/api/v1/attempts?project_id=list&task_id=task-{task}")
    response = conn.getresponse()
    return str(json.loads(response.read())["items"][0]["attempt_id"])


def measure(server: Server, port: int, tasks: int, questions: int, requests: int) -> None:
    """Each page `requests` times; `{n}` is a page's offset among the tasks, `{q}` among the
    tasks that need input (all in `todo`)."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    attempts = {t: attempt_of(conn, t) for t in (0, tasks // 2)}
    for _, path in PAGES:  # warm: imports, templates, the agents' version probes
        page(conn, path.format(n=0, q=0, t=0, a=attempts[0]))
    for label, path in PAGES:
        samples = []
        start_cpu = server.cpu()
        for i in range(requests):
            offset = (i * 37 % max(tasks // 50, 1)) * 50
            asking = (i * 37 % max(questions // 50, 1)) * 50
            task = tasks // 2  # the middle of the project, its attempt and its run
            start = time.perf_counter()
            page(conn, path.format(n=offset, q=asking, t=task, a=attempts[task]))
            samples.append(time.perf_counter() - start)
        cpu = (server.cpu() - start_cpu) / requests
        print(f"{label}: {percentiles(samples)}, {cpu * 1000:.1f} ms server CPU each")


NOW_ACTIVE = """
import os, time
os.environ["DJANGO_SETTINGS_MODULE"] = "conductor_site.settings"
import django
django.setup()
from django.test import Client
from api import percentiles
from dashboard import PAGES
from runs.models import Run
ids = list(Run.objects.order_by("id").values_list("id", flat=True)[:{active}])
Run.objects.filter(id__in=ids).update(status="queued")
client = Client()
now_pages = [(label, path) for label, path in PAGES if path.startswith("/ui/now/")]
for label, path in now_pages:
    client.get(path)
    walls, cpu = [], time.process_time()
    for _ in range({requests}):
        start = time.perf_counter()
        assert client.get(path).status_code == 200
        walls.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu) / {requests}
    print(f"{{label}}, {active:,} queued: {{percentiles(walls)}}, {{cpu * 1000:.1f}} ms CPU each")
"""


def now_with_active_runs(env: dict[str, str], active: int, requests: int) -> None:
    script = NOW_ACTIVE.format(active=active, requests=requests)
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT / "bench", check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=1_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--active", type=int, default=1000)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="conductor-bench-")
    port = free_port()
    env = server_env(data_dir)
    subprocess.run([CONDUCTOR, "migrate", "--verbosity", "0"], env=env, check=True)
    seed_tasks(env, args.tasks)
    if args.questions:
        seed_questions(env, args.tasks, args.questions)
    seed_messages(env, args.messages)
    server = Server(env, port, processes=1)
    try:
        print(
            f"{args.tasks:,} tasks in one project ({args.questions:,} with an open question, "
            f"{args.messages:,} messages on task-0's bus), "
            f"one client, {args.requests} requests a page"
        )
        measure(server, port, args.tasks, args.questions, args.requests)
    finally:
        server.stop()
    now_with_active_runs(env, args.active, args.requests)


if __name__ == "__main__":
    main()
