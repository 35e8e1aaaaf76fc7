"""Identifiers: validation of client ids and generation of sortable server ids."""

from __future__ import annotations

import re
import secrets

from django.core.validators import RegexValidator
from django.utils import timezone
from rest_framework import serializers

IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
RESERVED_IDS = frozenset({"_audit", "_worktrees"})

identifier_validator = RegexValidator(
    IDENTIFIER_RE,
    "must be 1-128 characters of A-Z, a-z, 0-9, '-' or '_'",
)


def identifier_field() -> serializers.RegexField:
    """The DRF field for a client-chosen id (project_id, task_id, ...)."""
    return serializers.RegexField(
        IDENTIFIER_RE,
        max_length=128,
        trim_whitespace=False,
        error_messages={"invalid": "must be 1-128 characters of A-Z, a-z, 0-9, '-' or '_'"},
    )


def is_identifier(value: object) -> bool:
    return isinstance(value, str) and bool(IDENTIFIER_RE.match(value))


def new_run_id() -> str:
    """`run-YYYYMMDD-HHMMSS-<8 hex>`: sorts by creation time, unique without coordination."""
    return f"run-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def new_attempt_id() -> str:
    return f"att-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def new_task_id(title: str) -> str:
    """`task-YYYYMMDD-HHMMSS-<slug of the title>` (Conductor Loop's form), for tasks made
    without an id (the board's form); random hex when the title has no usable letters."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return f"task-{timezone.now():%Y%m%d-%H%M%S}-{slug or secrets.token_hex(4)}"
