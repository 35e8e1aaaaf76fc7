"""Conductor settings.

Embedded mode (the default, nothing set): SQLite in the data dir, a Celery worker inside the
`conductor serve` process on the in-memory broker, the in-memory channel layer.
Production mode (`REDIS_URL` set, usually with `DATABASE_URL`): Redis as Celery broker and
channel layer, workers started separately with `conductor worker`.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from conductor_site.config import data_dir, load_config

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str = "False") -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    return int(os.getenv(name, str(default)))


def envfloat(name: str, default: float) -> float:
    return float(os.getenv(name, str(default)))


DATA_DIR = data_dir()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# `<data dir>/config.yaml` (or `CONDUCTOR_CONFIG`), with the environment over it.
_CONFIG = load_config(DATA_DIR)


def _secret_key() -> str:
    """A key from the environment, else one generated once and kept in the data dir."""
    if key := os.getenv("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG")
ALLOWED_HOSTS = os.getenv("ALLOWED_HOSTS", "*").split(",")

REDIS_URL = os.getenv("REDIS_URL", "")
EMBEDDED = not REDIS_URL
# "server" or "worker": `conductor serve` and `conductor worker` say which they are.
PROCESS = os.getenv("CONDUCTOR_PROCESS", "server")
WORKER_NAME = os.getenv("CONDUCTOR_WORKER_NAME") or socket.gethostname()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_prometheus",
    "conductor_site",
    "projects",
    "tasks",
    "runs",
    "messagebus",
]

# Outermost first. The request id, the request counter, CORS headers and the JSON error
# shape wrap everything, so a 401 or a 500 carries them too; the audit sits next to the views.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "conductor_site.audit.RequestIdMiddleware",
    "conductor_site.metrics.ApiRequestsMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "conductor_site.errors.JsonErrorMiddleware",
    "conductor_site.params.NulInUrlMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "conductor_site.auth.ApiKeyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "conductor_site.auth.DashboardSignInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "conductor_site.audit.FormSubmissionAuditMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
CSRF_FAILURE_VIEW = "conductor_site.errors.csrf_failure"
# The dashboard's sign-in, when auth is on (conductor_site.auth.DashboardSignInMiddleware).
LOGIN_URL = "/ui/sign-in/"
LOGIN_REDIRECT_URL = "/ui/"

ROOT_URLCONF = "conductor_site.urls"
ASGI_APPLICATION = "conductor_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "conductor_site.auth.dashboard_context",
            ],
        },
    },
]


def _application_name() -> str:
    """Who holds which PostgreSQL connection, in pg_stat_activity (63 characters at most)."""
    if PROCESS == "worker":
        return f"conductor worker {WORKER_NAME}"[:63]
    return f"conductor {PROCESS}"


# SQLite: WAL, BEGIN IMMEDIATE (no lock-upgrade failures), a long busy timeout
# (shared/research/embedded-mode.md, Q3).
_SQLITE_PATH = DATA_DIR / "conductor.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{_SQLITE_PATH}", conn_max_age=0, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    # A thread keeps its SQLite connection (a kept request thread serves request after
    # request on one): opening one per request cost ~12% of a bus append's CPU. A write that
    # fails closes its connection (runs.logsink._insert). PostgreSQL has its pool instead.
    DATABASES["default"]["CONN_MAX_AGE"] = None
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every request runs in a thread of its own, so without a pool each one would
    # open a PostgreSQL connection (3-4 ms a request, docs/benchmarks.md). A request holds
    # its connection until it ends. A worker's threads give theirs back before each long wait
    # (conductor_site/db.py), so a small pool serves all its runs; a thread that finds every
    # connection in use waits for one (up to `timeout`), it never opens more.
    _POOL_SETTING, _POOL_DEFAULT = (
        ("CONDUCTOR_WORKER_DB_CONNECTIONS", 10)
        if PROCESS == "worker"
        else ("CONDUCTOR_SERVER_DB_CONNECTIONS", 100)
    )
    _POOL_SIZE = envint(_POOL_SETTING, _POOL_DEFAULT)
    if _POOL_SIZE < 1:
        raise ImproperlyConfigured(f"{_POOL_SETTING} must be at least 1, not {_POOL_SIZE}")
    DATABASES["default"]["OPTIONS"] = {
        "application_name": _application_name(),  # a DATABASE_URL's own name wins
        **DATABASES["default"].get("OPTIONS", {}),
        "pool": {"min_size": min(2, _POOL_SIZE), "max_size": _POOL_SIZE, "timeout": 30},
    }
# django-prometheus's wrappers of the same backends add the `django_db_*` metrics (queries,
# errors, connections) to /metrics; options such as transaction_mode work as before.
_PROMETHEUS_ENGINES = {
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# No STATIC_ROOT: WhiteNoise serves the admin's and Swagger UI's assets straight from the
# installed apps and `static/` (no collectstatic step, no CDN: the docs page must work
# offline), and never a folder of the data dir, where users' files live.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# CORS: only the configured origins (`api.cors_origins`, `CONDUCTOR_CORS_ORIGINS`; "*" = any).
CORS_ALLOW_ALL_ORIGINS = "*" in _CONFIG.cors_origins
CORS_ALLOWED_ORIGINS = [origin for origin in _CONFIG.cors_origins if origin != "*"]
CORS_ALLOW_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
CORS_ALLOW_HEADERS = (
    "content-type",
    "authorization",
    "x-api-key",
    "x-conductor-client",
    "x-request-id",
    "last-event-id",
)
CORS_EXPOSE_HEADERS = ("X-Request-ID", "X-Total-Count", "X-Limit", "X-Offset")

# JSON only: every API response, errors included, is JSON (the browsable API would answer a
# browser with HTML); /api/docs/ is the page for people.
REST_FRAMEWORK = {
    # JSON by default; a browser (Accept: text/html) gets DRF's browsable API. Errors are
    # JSON either way (conductor_site.errors.api_exception_handler).
    "DEFAULT_RENDERER_CLASSES": [
        "conductor_site.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON bodies nest at most JSON_DEPTH_MAX levels (a 400 past it, not a RecursionError).
    "DEFAULT_PARSER_CLASSES": [
        "conductor_site.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "conductor_site.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Conductor API",
    "DESCRIPTION": "A self-hosted control room for AI coding agents. The routes under "
    "/api/v1 and /api/projects follow the Conductor Loop API contract.",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "messagebus.openapi.streams_in_schema",
        "conductor_site.errors.error_responses_in_schema",
    ],
    # One name per choice set that several components share.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs.models.RunStatus",
        "DocumentRunStatusEnum": "runs.selectors.DOCUMENT_STATUSES",
        "UiRunStatusEnum": "runs.selectors.UI_STATUSES",
        "RunKindEnum": "runs.openapi.RUN_KINDS",
        "TaskStatusEnum": "tasks.openapi.TASK_STATUSES",
        "GateStateEnum": "tasks.openapi.GATE_STATES",
        "RunFileNameEnum": "runs.openapi.RUN_FILE_NAMES",
        "WorktreeOperationEnum": "runs.openapi.WORKTREE_OPERATIONS",
        "PullRequestStateEnum": "runs.openapi.PR_STATES",
        "MergeStrategyEnum": "runs.models.MergeStrategy",
        "WorktreeArchiveReasonEnum": "runs.openapi.WORKTREE_ARCHIVE_REASONS",
    },
    "SECURITY": [{"ApiKeyBearer": []}, {"ApiKeyHeader": []}],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyBearer": {"type": "http", "scheme": "bearer"},
            "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    },
}

# Channels: the in-memory layer in embedded mode (raised capacity, see research Q2), Redis
# pub/sub in production (measured ~6x the core Redis layer's throughput here).
if EMBEDDED:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }

# Celery. Long agent runs must never be redelivered: tasks are acknowledged on receipt, a
# worker reserves one task per slot, and the visibility timeout is far beyond any run. State
# changes are conditional updates, so a duplicate delivery is harmless anyway.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 7 * 24 * 3600} if REDIS_URL else {"polling_interval": 0.01}
)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "conductor"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Conductor itself.
CONDUCTOR: dict[str, Any] = {
    "WORKTREE_ROOT": Path(
        os.getenv("CONDUCTOR_WORKTREE_ROOT", str(DATA_DIR / "_worktrees"))
    ).expanduser(),
    "BRANCH_PREFIX": os.getenv("CONDUCTOR_BRANCH_PREFIX", "conductor"),
    "LOG_MAX_BYTES": envint("CONDUCTOR_LOG_MAX_BYTES", 64 * 1024 * 1024),
    "LOG_TAIL_BYTES": envint("CONDUCTOR_LOG_TAIL_BYTES", 1024 * 1024),
    "LOG_MAX_LINE_BYTES": envint("CONDUCTOR_LOG_MAX_LINE_BYTES", 4 * 1024 * 1024),
    "LOG_FLUSH_SECONDS": envfloat("CONDUCTOR_LOG_FLUSH_SECONDS", 0.05),
    "LOG_PENDING_BYTES": envint("CONDUCTOR_LOG_PENDING_BYTES", 1024 * 1024),
    "OUTPUT_MAX_BYTES": envint("CONDUCTOR_OUTPUT_MAX_BYTES", 1024 * 1024),
    "STOP_GRACE_SECONDS": envfloat("CONDUCTOR_STOP_GRACE_SECONDS", 5.0),
    "HEARTBEAT_SECONDS": envfloat("CONDUCTOR_HEARTBEAT_SECONDS", 2.0),
    "HEARTBEAT_TIMEOUT_SECONDS": envfloat("CONDUCTOR_HEARTBEAT_TIMEOUT_SECONDS", 30.0),
    # An admitted start no worker claimed this long after it was sent is sent again.
    "REQUEUE_SECONDS": envfloat("CONDUCTOR_REQUEUE_SECONDS", 30.0),
    "WORKER_NAME": WORKER_NAME,
    "WORKER_CONCURRENCY": envint("CONDUCTOR_WORKER_CONCURRENCY", 64),
    "AGENT_VERSION_TIMEOUT": envfloat("CONDUCTOR_AGENT_VERSION_TIMEOUT", 5.0),
    # Flag > CONDUCTOR_API_KEY > config file; empty = auth off.
    "API_KEY": _CONFIG.api_key,
    # Root tasks allowed to run at once; 0 = unlimited.
    "MAX_CONCURRENT_ROOT_TASKS": _CONFIG.max_concurrent_root_tasks,
    "AUDIT_MAX_TEXT": envint("CONDUCTOR_AUDIT_MAX_TEXT", 4096),
    "DISABLE_TASK_START": envbool("CONDUCTOR_DISABLE_TASK_START"),
    "API_URL": os.getenv("CONDUCTOR_API_URL", "http://127.0.0.1:14355"),
    "SSE_KEEPALIVE_SECONDS": envfloat("CONDUCTOR_SSE_KEEPALIVE_SECONDS", 15.0),
    # A stream's send queue (conductor_site/live/backpressure.py): past this many bytes a
    # client has not read, its feed waits; not read down within the seconds, it is closed.
    "STREAM_SEND_BUFFER_BYTES": envint("CONDUCTOR_STREAM_SEND_BUFFER_BYTES", 1024 * 1024),
    "STREAM_STALL_SECONDS": envfloat("CONDUCTOR_STREAM_STALL_SECONDS", 30.0),
    # The event log (GET /api/v1/events) keeps this many days, and at most this many events.
    "EVENTS_KEEP_DAYS": envfloat("CONDUCTOR_EVENTS_KEEP_DAYS", 30.0),
    "EVENTS_KEEP_MAX": envint("CONDUCTOR_EVENTS_KEEP_MAX", 1_000_000),
    # The largest `config.loop.max_iterations` a task may ask for.
    "LOOP_MAX_ITERATIONS": envint("CONDUCTOR_LOOP_MAX_ITERATIONS", 1000),
    # The largest image `POST /api/v1/images` takes (413 past it).
    "IMAGE_MAX_BYTES": envint("CONDUCTOR_IMAGE_MAX_BYTES", 10 * 1024 * 1024),
    # Folders the filesystem routes may read besides the user's home (`projects.discovery`):
    # absolute paths separated by `:`.
    "BROWSE_ROOTS": [
        root for root in os.getenv("CONDUCTOR_BROWSE_ROOTS", "").split(os.pathsep) if root
    ],
    # A diff carries a file's contents up to this size (each side), and up to the total for
    # all its files; past either, `content_omitted: "too_large"`.
    "DIFF_FILE_MAX_BYTES": envint("CONDUCTOR_DIFF_FILE_MAX_BYTES", 256 * 1024),
    "DIFF_TOTAL_MAX_BYTES": envint("CONDUCTOR_DIFF_TOTAL_MAX_BYTES", 8 * 1024 * 1024),
    # The live diff (runs/diffwatch.py): changes to a worktree are gathered for up to this
    # long before the files that changed are diffed again and sent (at least 50 ms apart);
    # past this many paths at once the change says "overflow" and streams re-read the diff.
    "DIFF_WATCH_DEBOUNCE_MS": envint("CONDUCTOR_DIFF_WATCH_DEBOUNCE_MS", 150),
    "DIFF_WATCH_MAX_PATHS": envint("CONDUCTOR_DIFF_WATCH_MAX_PATHS", 500),
    # How long a request waits for the worker that owns an attempt's worktree (runs/owner.py).
    "OWNER_TIMEOUT_SECONDS": envfloat("CONDUCTOR_OWNER_TIMEOUT_SECONDS", 15.0),
    # Worktrees (docs/worktrees.md): archived once merged; after this many days without a run
    # (0 = never).
    "REMOVE_WORKTREE_AFTER_MERGE": envbool("CONDUCTOR_REMOVE_WORKTREE_AFTER_MERGE", "true"),
    "WORKTREE_IDLE_DAYS": envfloat("CONDUCTOR_WORKTREE_IDLE_DAYS", 0.0),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
