"""Approvals of library texts given in the console or the API.

The texts ship as YAML with the code; an approval given at run time is kept here,
tied to the exact text approved: when the YAML text changes, its hash changes and
the approval no longer applies.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class ContentApproval(SQLModel, table=True):
    __tablename__ = "content_approval"
    __table_args__ = (
        UniqueConstraint("key", "language", "text_sha256", name="uq_content_approval"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=60, index=True)
    language: str = Field(max_length=5)
    # SHA-256 of the text as sent in that language.
    text_sha256: str = Field(max_length=64)
    version: int
    approved_by_user_id: int = Field(foreign_key="staff_user.id")
    approved_at: datetime = Field(default_factory=utcnow)
