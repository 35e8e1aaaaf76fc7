"""Drafts: the follow-up prompt being written for an attempt, one per attempt, kept between
page loads and editors.

Every save names the version it read (0: "there was none"); the save is a conditional update
on that version, so of two editors who read version 3 one saves version 4 and the other gets
a 409 naming the current version, never a silent overwrite. `queued` records that the user
wants the draft sent as the attempt's next follow-up; sending it is the follow-up route's to
do (not built yet: see docs/api/tags-images-drafts.md).
"""

from __future__ import annotations

from typing import NoReturn

from django.db import IntegrityError, transaction
from django.utils import timezone

from conductor_site.errors import DomainError
from runs.models import Attempt
from tasks.models import Draft


class DraftVersionStale(DomainError):
    status_code = 409


def draft_save(attempt: Attempt, *, version: int, prompt: str, queued: bool) -> Draft:
    """Version `version + 1` of the attempt's draft, if `version` is the one stored (0 when
    none is); else DraftVersionStale with the stored version in its details."""
    if version == 0:
        return _draft_create(attempt, prompt, queued)
    saved = Draft.objects.filter(attempt=attempt, version=version).update(
        prompt=prompt, queued=queued, version=version + 1, updated_at=timezone.now()
    )
    if saved != 1:
        _stale(attempt, version)
    return Draft.objects.get(attempt=attempt)


def _draft_create(attempt: Attempt, prompt: str, queued: bool) -> Draft:
    try:
        with transaction.atomic():
            return Draft.objects.create(attempt=attempt, prompt=prompt, queued=queued)
    except IntegrityError:  # another editor created it first
        _stale(attempt, 0)


def _stale(attempt: Attempt, version: int) -> NoReturn:
    current = Draft.objects.filter(attempt=attempt).values_list("version", flat=True).first()
    raise DraftVersionStale(
        f"the draft of attempt {attempt.id!r} is at version {current or 0}, not {version}: "
        "read it again, then save",
        version=current or 0,
    )
