"""The console's inbox: replies no keyword understood and nobody has dealt with yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from outreach.accounts.models import StaffUser
from outreach.inbound.models import InboundMessage
from outreach.inbound.service import Kind


@dataclass(frozen=True, slots=True)
class InboxItem:
    message: InboundMessage
    assigned_to: str | None


def unhandled(session: Session, *, limit: int = 50, visible: Any = None) -> list[InboxItem]:
    """Oldest first: the longest waiting is answered first (`visible`: the user's scope)."""
    stmt = select(InboundMessage, StaffUser.name)
    if visible is not None:
        stmt = stmt.where(visible)
    rows = session.exec(
        stmt.outerjoin(StaffUser, col(StaffUser.id) == col(InboundMessage.assigned_user_id))
        .where(
            col(InboundMessage.intent).in_([Kind.OTHER, Kind.NOT_A_PHONE]),
            col(InboundMessage.handled_at).is_(None),
        )
        .order_by(col(InboundMessage.received_at), col(InboundMessage.id))
        .limit(limit)
    ).all()
    return [InboxItem(message=m, assigned_to=name) for m, name in rows]
