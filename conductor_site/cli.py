"""`conductor`: serve the API (embedded mode by default), run a worker, administer."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path

import django

from conductor_site.config import ConfigError, data_dir, listen_address

DESCRIPTION = """\
Conductor: a self-hosted control room for AI coding agents.

Embedded mode (default): `conductor serve` is all you need; SQLite and the work run inside it.
Production mode: set DATABASE_URL and REDIS_URL, run `conductor serve` for the API and
`conductor worker` on each machine that runs agents.
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in (None, "help"):
        parser.print_help()
        return 0
    if args.command in ("migrate", "createsuperuser", "manage"):
        return _manage(args.command, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.handler(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conductor",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the server (API, admin, streams)",
        description="Run the Conductor server. Without REDIS_URL it "
        "also runs the work in-process (embedded mode).",
    )
    serve.add_argument(
        "--host", help="address to bind (default: api.host from config.yaml, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, help="port (default: api.port from config.yaml, else 14355)"
    )
    serve.add_argument(
        "--root",
        help="the data dir: database, task folders, audit log, config.yaml "
        "(default: CONDUCTOR_DATA_DIR, else ~/.conductor)",
    )
    serve.add_argument(
        "--api-key",
        help="require this key (Authorization: Bearer or X-API-Key); overrides "
        "CONDUCTOR_API_KEY and api.api_key in config.yaml",
    )
    serve.add_argument(
        "--disable-task-start",
        action="store_true",
        help="accept no new task runs (POST /api/v1/tasks answers 503)",
    )
    serve.add_argument(
        "--processes",
        type=int,
        default=1,
        help="serve from N processes on one socket (production mode only; default 1)",
    )
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow binding a non-loopback address without an API key",
    )
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser(
        "worker",
        help="run a Celery worker (production mode)",
        description="Run agents for a production-mode server. Needs REDIS_URL and DATABASE_URL.",
    )
    worker.add_argument(
        "--name",
        help="worker name, unique per machine (default: hostname); "
        "attempts are routed back to the worker that owns their worktree",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        help="concurrent agent runs (default CONDUCTOR_WORKER_CONCURRENCY or 64)",
    )
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(handler=_worker)

    commands.add_parser(
        "migrate", help="apply database migrations (Django's migrate)", add_help=False
    )
    commands.add_parser("createsuperuser", help="create an admin user for /admin/", add_help=False)
    commands.add_parser("manage", help="any Django management command", add_help=False)
    commands.add_parser("help", help="show this help")
    return parser


def _manage(command: str, rest: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")
    from django.core.management import execute_from_command_line

    args = rest if command == "manage" else [command, *rest]
    execute_from_command_line(["conductor", *args])
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return all(
            ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None)
        )
    except (socket.gaierror, ValueError):
        return False


def _listen_address(host: str | None, port: int | None) -> tuple[str, int]:
    """Flags, else `api.host`/`api.port` from the config file, else 127.0.0.1:14355."""
    file_host, file_port = listen_address(data_dir())
    return host or file_host, port or file_port


def _serve(args: argparse.Namespace) -> int:
    # The flag wins over the environment, which wins over the config file: the settings read
    # the environment first (conductor_site.config).
    if args.root:
        os.environ["CONDUCTOR_DATA_DIR"] = args.root
    if args.api_key:
        os.environ["CONDUCTOR_API_KEY"] = args.api_key
    try:
        args.host, args.port = _listen_address(args.host, args.port)
    except ConfigError as exc:
        print(f"conductor: {exc}", file=sys.stderr)
        return 2
    if args.disable_task_start:
        os.environ["CONDUCTOR_DISABLE_TASK_START"] = "1"
    url_host = f"[{args.host}]" if ":" in args.host else args.host
    os.environ.setdefault("CONDUCTOR_API_URL", f"http://{url_host}:{args.port}")
    os.environ["CONDUCTOR_PROCESS"] = "server"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")
    django.setup()
    from django.conf import settings

    if not _is_loopback(args.host) and not settings.CONDUCTOR["API_KEY"] and not args.insecure:
        print(
            f"conductor: refusing to bind {args.host} without authentication: anyone who can "
            "reach it could run commands on this machine. Set --api-key (or CONDUCTOR_API_KEY), "
            "or pass --insecure if the network is trusted.",
            file=sys.stderr,
        )
        return 2
    from conductor_site.server import INHERITED_LISTENER, run_server, serve_inherited

    if inherited := os.environ.get(INHERITED_LISTENER):
        return serve_inherited(int(inherited))
    if refusal := _processes_refusal(args.processes, settings.EMBEDDED):
        print(f"conductor: {refusal}", file=sys.stderr)
        return 2
    _warn_if_in_work_tree(settings.DATA_DIR)
    return run_server(args.host, args.port, args.processes)


def _processes_refusal(processes: int, embedded: bool) -> str:
    """Why `--processes` cannot be served ("" if it can)."""
    if processes < 1:
        return f"--processes must be at least 1, not {processes}"
    if processes > 1 and embedded:
        return (
            f"--processes {processes} needs production mode (REDIS_URL and DATABASE_URL): "
            "embedded mode runs its worker and its in-memory channel layer inside its one "
            "process, so it serves from one"
        )
    return ""


def _worker(args: argparse.Namespace) -> int:
    if args.name:
        os.environ["CONDUCTOR_WORKER_NAME"] = args.name
    os.environ["CONDUCTOR_PROCESS"] = "worker"  # its own pool size (settings)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")
    django.setup()
    from django.conf import settings

    if settings.EMBEDDED:
        print(
            "conductor worker: REDIS_URL is not set. In embedded mode `conductor serve` runs "
            "the work itself; set REDIS_URL and DATABASE_URL for separate workers.",
            file=sys.stderr,
        )
        return 2
    from conductor_site.server import run_worker

    _warn_if_in_work_tree(settings.DATA_DIR)
    return run_worker(args.concurrency, args.loglevel)


def _warn_if_in_work_tree(data_dir: Path) -> None:
    from conductor_site.datadir import work_tree_warning

    if warning := work_tree_warning(data_dir):
        print(f"conductor: {warning}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
