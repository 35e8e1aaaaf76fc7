"""Drafts: the follow-up prompt being written for an attempt, one per attempt, kept between
page loads and editors.

Every save names the version it read (0: "there was none"); the save is a conditional update
on that version, so of two editors who read version 3 one saves version 4 and the other gets
a 409 naming the current version, never a silent overwrite. `queued` asks for the draft to be
sent as the attempt's next follow-up: at once when the attempt is idle, else when its work
ends (`tasks.services.queued_draft_send`); once sent, the draft is gone (the follow-up run
holds its prompt) and a new one starts again from version 0.
"""

from __future__ import annotations

from typing import NoReturn

from django.db import IntegrityError, transaction
from django.utils import timezone

from conductor_site.errors import DomainError
from runs.models import Attempt, Run
from runs.services import attempt_locked
from tasks.models import Draft
from tasks.services import queued_draft_send


class DraftVersionStale(DomainError):
    status_code = 409


def draft_save(
    attempt: Attempt, *, version: int, prompt: str, queued: bool
) -> tuple[Draft, Run | None]:
    """Version `version + 1` of the attempt's draft, if `version` is the one stored (0 when
    none is); else DraftVersionStale with the stored version in its details. A queued draft
    is sent at once when the attempt is idle: then the follow-up run comes back too. The save
    and the send are one transaction under the attempt's lock, as housekeeping's send takes
    it: a send in between took the draft, and the save answered that nothing was sent."""
    with transaction.atomic():
        attempt_locked(attempt.id)
        draft = _draft_store(attempt, version, prompt, queued)
        return draft, queued_draft_send(attempt.id) if queued else None


def draft_of(attempt_id: str) -> Draft | None:
    return Draft.objects.filter(attempt_id=attempt_id).first()


def draft_sent(attempt_id: str, prompt: str) -> None:
    """A follow-up was sent with `prompt`: the draft holding that text was the one sent and is
    done with (the box is empty again); one another editor saved since holds other text and
    stays."""
    Draft.objects.filter(attempt_id=attempt_id, prompt=prompt).delete()


def draft_delete(attempt_id: str) -> bool:
    """False when the attempt had no draft."""
    deleted, _ = Draft.objects.filter(attempt_id=attempt_id).delete()
    return deleted > 0


def _draft_store(attempt: Attempt, version: int, prompt: str, queued: bool) -> Draft:
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
