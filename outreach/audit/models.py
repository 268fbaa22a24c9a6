"""The audit log: who changed or exported what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    # Null for actions by the system or a CLI run without a user.
    user_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    # Who, as shown in the log even after the user is gone: an email, "cli" or "system".
    actor: str = Field(max_length=254)
    # A verb on an object type: "campaign.approve", "beneficiary.export", "user.create".
    action: str = Field(max_length=60, index=True)
    object_type: str | None = Field(default=None, max_length=40)
    object_id: str | None = Field(default=None, max_length=40)
    # What changed (never a secret, a full phone number or a message body).
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ip: str | None = Field(default=None, max_length=45)
