"""Phones, beneficiaries, children and their programme enrollments."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class PhoneStatus(StrEnum):
    ACTIVE = "active"
    OPTED_OUT = "opted_out"
    INVALID = "invalid"


class PhoneKind(StrEnum):
    OWN = "own"
    SHARED = "shared"
    NONE = "none"


class Phone(SQLModel, table=True):
    """One handset number; several beneficiaries (and a CHW) may share it."""

    __tablename__ = "phone"

    id: int | None = Field(default=None, primary_key=True)
    e164: str = Field(max_length=20, unique=True)
    status: str = Field(default=PhoneStatus.ACTIVE, max_length=20)
    opted_out_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Beneficiary(SQLModel, table=True):
    __tablename__ = "beneficiary"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True)
    name: str = Field(max_length=120)
    phone_id: int | None = Field(default=None, foreign_key="phone.id", index=True)
    phone_kind: str = Field(default=PhoneKind.OWN, max_length=10)
    chw_id: int | None = Field(default=None, foreign_key="chw.id", index=True)
    village_id: int | None = Field(default=None, foreign_key="site.id", index=True)
    language: str = Field(default="fr", max_length=5)
    displaced: bool = False
    status: str = Field(default="active", max_length=20)
    created_at: datetime = Field(default_factory=utcnow)


class Child(SQLModel, table=True):
    __tablename__ = "child"

    id: int | None = Field(default=None, primary_key=True)
    mother_id: int = Field(foreign_key="beneficiary.id", index=True)
    name: str | None = Field(default=None, max_length=120)
    sex: str | None = Field(default=None, max_length=1)
    birth_date: date
    created_at: datetime = Field(default_factory=utcnow)
