"""Helpers shared by the appointment tests."""

from __future__ import annotations

from sqlmodel import Session, col, select

from outreach.outbox.models import OutboundMessage


def reminders(db: Session, appointment_id: int | None) -> list[OutboundMessage]:
    """The outbox rows of one appointment's reminders (`appt:<id>:<slot>`)."""
    db.expire_all()
    return list(
        db.exec(
            select(OutboundMessage).where(
                col(OutboundMessage.dedupe_key).like(f"appt:{appointment_id}:%")
            )
        )
    )
