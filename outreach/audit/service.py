"""Recording audit entries inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from outreach.accounts.models import StaffUser
from outreach.audit.models import AuditEntry


def record(
    session: Session,
    *,
    action: str,
    user: StaffUser | None = None,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: object = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Add an audit entry; it commits or rolls back with the change it describes."""
    entry = AuditEntry(
        user_id=user.id if user else None,
        actor=actor or (user.email if user else "system"),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        detail=detail or {},
        ip=ip,
    )
    session.add(entry)
    return entry
