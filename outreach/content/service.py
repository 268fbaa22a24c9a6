"""The content library as staff see it, and approvals recorded at run time."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from messages import texts
from messages.texts import Message
from outreach.accounts.models import StaffUser
from outreach.config import get_settings
from outreach.content.models import ContentApproval


class ContentNotFound(LookupError):
    """No message with this key in the library."""


def sent_text(message: Message, language: str) -> str:
    """The text as it goes out in `language` (its GSM-safe spelling where configured)."""
    return message.text(language, gsm_safe=get_settings().content_gsm_safe.get(language, True))


def text_hash(text: str) -> str:
    """What an approval is tied to."""
    return hashlib.sha256(text.encode()).hexdigest()


def languages(message: Message) -> list[str]:
    """The languages a message is sent in."""
    return [lang for lang in texts.LANGUAGES if lang == "fr" or lang in message.texts]


# (key, language, text hash) -> who approved it and on which day.
Approvals = dict[tuple[str, str, str], tuple[str, date]]


def approvals(session: Session) -> Approvals:
    """Every recorded approval, with its approver's email and date."""
    rows = session.execute(
        sa_select(
            col(ContentApproval.key),
            col(ContentApproval.language),
            col(ContentApproval.text_sha256),
            col(StaffUser.email),
            col(ContentApproval.approved_at),
        ).join(StaffUser, col(StaffUser.id) == col(ContentApproval.approved_by_user_id))
    )
    return {(key, lang, digest): (email, at.date()) for key, lang, digest, email, at in rows}


def approved_languages(message: Message, recorded: Approvals) -> list[str]:
    """The languages whose current text a manager approved (or all, when the YAML says so)."""
    if message.approved:
        return languages(message)
    return [lang for lang in languages(message) if _approval(message, lang, recorded)]


def _approval(message: Message, language: str, recorded: Approvals) -> tuple[str, date] | None:
    return recorded.get((message.key, language, text_hash(sent_text(message, language))))


def with_approvals(session: Session, messages: Mapping[str, Message]) -> dict[str, Message]:
    """The library with a draft counted as approved once each of its languages is approved."""
    recorded = approvals(session)
    out = dict(messages)
    if not recorded:
        return out
    for key, message in messages.items():
        if message.approved:
            continue
        found = [_approval(message, lang, recorded) for lang in languages(message)]
        if all(found):
            # The latest approval names the reviewer, as a YAML review would.
            reviewer, day = max((f for f in found if f), key=lambda f: f[1])
            out[key] = replace(
                message, review_status=texts.APPROVED, reviewer=reviewer, reviewed_on=day
            )
    return out


def get(key: str) -> Message:
    """One library message, or `ContentNotFound`."""
    message = texts.load().get(key)
    if message is None:
        raise ContentNotFound(f"contenu {key}")
    return message


def approve(
    session: Session, *, key: str, language: str, text_sha256: str, user: StaffUser
) -> ContentApproval:
    """Record a manager's approval of the text they read; refused if it changed since."""
    message = get(key)
    if language not in languages(message):
        raise ValueError(f"le contenu {key} n'existe pas en {language}")
    current = text_hash(sent_text(message, language))
    if text_sha256 != current:
        raise ValueError("le texte a changé depuis votre lecture: relisez-le avant d'approuver")
    existing = session.exec(
        select(ContentApproval).where(
            ContentApproval.key == key,
            ContentApproval.language == language,
            ContentApproval.text_sha256 == current,
        )
    ).first()
    if existing is not None:
        return existing
    assert user.id is not None
    row = ContentApproval(
        key=key,
        language=language,
        text_sha256=current,
        version=message.version,
        approved_by_user_id=user.id,
    )
    session.add(row)
    session.flush()
    return row
