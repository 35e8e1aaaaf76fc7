"""Tags: reusable prompt snippets, and `@name` expanded in the prompts of submitted tasks.

The token rule: `@` then a tag name (`[A-Za-z0-9_-]+`, the longest run), where the `@` does not
follow a letter, digit or one of `._%+-/@` and the name is not followed by `.`, `/`, `@` or `:`
and then a letter or digit. So an e-mail address (`me@example.com`), a scoped package
(`@types/node`), `a@b` and `@@x` stay as they are, while `@review.` at the end of a sentence
expands. A `@word` naming no tag stays as is, and a tag's content is not scanned again: no
recursion, however tags name each other.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from conductor_site.errors import DomainError
from tasks.models import Tag

TOKEN_RE = re.compile(r"(?<![A-Za-z0-9._%+\-/@])@([A-Za-z0-9_-]+)(?![./@:][A-Za-z0-9])")


class TagNameTaken(DomainError):
    status_code = 409


def prompt_expand(prompt: str) -> str:
    """The prompt with each `@name` of a known tag replaced by the tag's content, in one pass
    (one query for all the names it mentions)."""
    names = {match.group(1) for match in TOKEN_RE.finditer(prompt)}
    if not names:
        return prompt
    contents = dict(Tag.objects.filter(name__in=names).values_list("name", "content"))
    if not contents:
        return prompt
    return TOKEN_RE.sub(lambda match: contents.get(match.group(1), match.group(0)), prompt)


def tag_save(tag: Tag) -> Tag:
    """Create or update; a name another tag has is a 409 (the unique index decides, so two
    requests racing for one name cannot both win)."""
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:
        raise TagNameTaken(f"a tag named {tag.name!r} exists already", name=tag.name) from exc
    return tag
