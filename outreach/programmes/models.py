"""Programme enrollments: a beneficiary (or her child) in a stage-based programme."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from outreach.encryption.types import EncryptedText
from outreach.timeutil import local_today, utcnow


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"


class Programme(StrEnum):
    PREGNANCY = "pregnancy"
    INFANT = "infant"


class Enrollment(SQLModel, table=True):
    """A beneficiary in a programme, anchored on a date (EDD or date of birth)."""

    __tablename__ = "enrollment"
    # The fan-out and the cost preflight find enrollments by programme and anchor date.
    __table_args__ = (Index("ix_enrollment_programme_anchor", "programme", "anchor_date"),)

    id: int | None = Field(default=None, primary_key=True)
    beneficiary_id: int = Field(foreign_key="beneficiary.id", index=True)
    child_id: int | None = Field(default=None, foreign_key="child.id")
    programme: str = Field(max_length=20)
    anchor_date: date
    status: str = Field(default=EnrollmentStatus.ACTIVE, max_length=20, index=True)
    # The day sending (re)started: enrollment or resume. What fell due shortly before
    # is sent that day; anything older is skipped (no flood of back messages).
    start_date: date = Field(default_factory=local_today, index=True)
    # Her name as it heads a message on a shared phone or to her CHW: GSM-safe and short,
    # so the fan-out can build every body in SQL and still fit one segment. Encrypted: the
    # fan-out copies the ciphertext to the outbox row and the body only marks its place.
    addressee: str | None = Field(default=None, sa_column=Column(EncryptedText))
    created_at: datetime = Field(default_factory=utcnow)
