"""Health advice on demand, read from the content library.

Only approved texts are shown, as for SMS; drafts too where the settings let drafts be
sent (development), so trainers see the programme before health staff approve it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from messages import texts
from messages.texts import Message

# USSD advice topics -> the library's topic sets, or the tags that mark a programme message.
TOPIC_SETS = {"hygiene": "hygiene", "covid19": "covid19", "malaria": "malaria"}
FEEDING_TAGS = ("feeding", "breastfeeding", "nutrition")
# Enough to read on a handset in a few pages.
MAX_MESSAGES = 3


def _approved(messages: Iterable[Message], include_drafts: bool) -> list[Message]:
    return [
        m for m in messages if include_drafts or getattr(m, "review_status", None) == texts.APPROVED
    ]


def _drafts_allowed() -> bool:
    from outreach.config import get_settings

    return bool(getattr(get_settings(), "send_drafts", False))


def topic_texts(
    topic: str,
    language: str,
    messages: Iterable[Message] | None = None,
    *,
    include_drafts: bool | None = None,
    programme: str | None = None,
) -> list[str]:
    """Up to three approved texts on a topic (hygiene, feeding, covid19, malaria).

    Feeding advice depends on her stage: a pregnant woman gets the pregnancy
    programme's nutrition messages, never the newborn's ("Félicitations !..."), and a
    mother the infant programme's.
    """
    pool = list(messages) if messages is not None else list(texts.load().values())
    drafts = _drafts_allowed() if include_drafts is None else include_drafts
    if topic in TOPIC_SETS:
        chosen = [
            m for m in _approved(pool, drafts) if getattr(m, "programme", None) == TOPIC_SETS[topic]
        ]
    elif programme is None:
        # No active programme (after a loss, or not yet confirmed): feeding advice for a
        # pregnancy or a baby could hurt, so none is offered.
        chosen = []
    else:
        chosen = [
            m
            for m in _approved(pool, drafts)
            if getattr(m, "programme", None) == programme
            and any(tag in str(t) for t in getattr(m, "topics", ()) or () for tag in FEEDING_TAGS)
        ]
    return [m.text(language) for m in chosen[:MAX_MESSAGES]]


def stage_text(
    programme: str,
    *,
    anchor: date,
    today: date,
    language: str,
    messages: Iterable[Message] | None = None,
    include_drafts: bool | None = None,
) -> str | None:
    """The approved programme message for her stage today: the latest one already due."""
    pool = list(messages) if messages is not None else list(texts.load().values())
    drafts = _drafts_allowed() if include_drafts is None else include_drafts
    elapsed = (today - anchor).days
    due = [
        m
        for m in _approved(pool, drafts)
        if getattr(m, "programme", None) == programme
        and getattr(m, "offset_days", None) is not None
        and m.offset_days is not None
        and m.offset_days <= elapsed
    ]
    if not due:
        return None
    latest = max(due, key=lambda m: (m.offset_days or 0, m.key))
    return latest.text(language)
