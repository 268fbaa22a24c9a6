"""Programme enrollments: a beneficiary (or her child) in a stage-based programme."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    STOPPED = "stopped"


class Programme(StrEnum):
    PREGNANCY = "pregnancy"
    INFANT = "infant"


class Enrollment(SQLModel, table=True):
    """A beneficiary in a programme, anchored on a date (EDD or date of birth)."""

    __tablename__ = "enrollment"

    id: int | None = Field(default=None, primary_key=True)
    beneficiary_id: int = Field(foreign_key="beneficiary.id", index=True)
    child_id: int | None = Field(default=None, foreign_key="child.id")
    programme: str = Field(max_length=20)
    anchor_date: date
    status: str = Field(default=EnrollmentStatus.ACTIVE, max_length=20, index=True)
    created_at: datetime = Field(default_factory=utcnow)
