"""Places: region > district > health area > village, and health facilities."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel


class SiteLevel(StrEnum):
    REGION = "region"
    DISTRICT = "district"
    HEALTH_AREA = "health_area"
    VILLAGE = "village"


class Site(SQLModel, table=True):
    __tablename__ = "site"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, index=True)
    level: str = Field(max_length=20, index=True)
    parent_id: int | None = Field(default=None, foreign_key="site.id", index=True)


class Facility(SQLModel, table=True):
    __tablename__ = "facility"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=160)
    kind: str = Field(max_length=20, default="cscom")
    site_id: int = Field(foreign_key="site.id", index=True)
