"""Appointments (one visit of one woman or child) and clinic rounds (days shared by villages)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from outreach.encryption.types import EncryptedText
from outreach.timeutil import utcnow


class AppointmentKind(StrEnum):
    ANC = "anc"
    POSTNATAL = "postnatal"
    VACCINATION = "vaccination"
    GROWTH = "growth"
    VITAMIN_A = "vitamin_a"
    CLINIC_DAY = "clinic_day"
    AWARENESS = "awareness"


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    MISSED = "missed"
    CANCELLED = "cancelled"
    # Replaced by a new appointment on another date (`moved_to_id`).
    MOVED = "moved"


class AppointmentSource(StrEnum):
    PROPOSED = "proposed"
    CHW = "chw"
    STAFF = "staff"
    ROUND = "round"


class RoundKind(StrEnum):
    MOBILE_CLINIC = "mobile_clinic"
    AWARENESS = "awareness"


class Appointment(SQLModel, table=True):
    """One visit on a concrete day; reminders are outbox rows keyed `appt:<id>:<slot>`."""

    __tablename__ = "appointment"
    __table_args__ = (
        # Reminder planning joins (kind, day) for the appointments still to come.
        Index("ix_appointment_kind_due", "kind", "due_on", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # One appointment per proposal, round day or manual entry: re-runs add nothing twice.
    dedupe_key: str = Field(max_length=80, unique=True)
    beneficiary_id: int = Field(foreign_key="beneficiary.id", index=True)
    child_id: int | None = Field(default=None, foreign_key="child.id")
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id", index=True)
    round_id: int | None = Field(default=None, foreign_key="clinic_round.id", index=True)
    kind: str = Field(max_length=20)
    # The schedule entry (e.g. `epi_penta1`), or the round's topic; None for a free entry.
    schedule_key: str | None = Field(default=None, max_length=40)
    due_on: date
    # Where, as it is read in an SMS and on a USSD screen (GSM-safe, short).
    place: str = Field(default="", max_length=40)
    facility_id: int | None = Field(default=None, foreign_key="facility.id")
    status: str = Field(default=AppointmentStatus.SCHEDULED, max_length=20, index=True)
    source: str = Field(default=AppointmentSource.PROPOSED, max_length=10)
    # Her name as it heads a reminder on a shared phone or to her CHW (encrypted).
    addressee: str | None = Field(default=None, sa_column=Column(EncryptedText))
    confirmed_at: datetime | None = None
    outcome_at: datetime | None = None
    outcome_chw_id: int | None = Field(default=None, foreign_key="chw.id")
    moved_to_id: int | None = Field(default=None, foreign_key="appointment.id")
    # A missed visit stays on the CHW's "a suivre" list until she has followed it up.
    followed_up_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ClinicRound(SQLModel, table=True):
    """Mobile-clinic days or an awareness session: a place, villages, and dates or a rule."""

    __tablename__ = "clinic_round"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=RoundKind.MOBILE_CLINIC, max_length=20)
    name: str = Field(max_length=120)
    # Awareness sessions: hygiene, infant_feeding, covid19...
    topic: str | None = Field(default=None, max_length=40)
    place: str = Field(max_length=40)
    facility_id: int | None = Field(default=None, foreign_key="facility.id")
    # A site covers every village under it; `villages` adds single villages.
    site_id: int | None = Field(default=None, foreign_key="site.id")
    villages: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Explicit days (ISO dates) and/or an RFC 5545 rule such as "FREQ=MONTHLY;BYDAY=+2TU".
    dates: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rrule: str | None = Field(default=None, sa_column=Column(Text))
    starts_on: date
    ends_on: date | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
