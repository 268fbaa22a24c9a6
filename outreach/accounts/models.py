"""Staff accounts (programme staff using the console and the API) and their API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class Role(StrEnum):
    """What a staff user may do; each role can do everything the ones below it can."""

    viewer = "viewer"  # read-only
    officer = "officer"  # drafts campaigns, manages beneficiaries
    manager = "manager"  # approves and schedules campaigns, manages CHWs and sites
    admin = "admin"  # users and settings

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """True when this role is `needed` or above it."""
        return self.rank >= needed.rank


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    # Stored lower-cased: logins are case-insensitive.
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=120)
    role: str = Field(max_length=10)
    password_hash: str = Field(max_length=255)
    # Console language: "fr" (default) or "en".
    language: str = Field(default="fr", max_length=5)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class ApiToken(SQLModel, table=True):
    """A bearer token for the REST API. Only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class StaffUserSite(SQLModel, table=True):
    """A site a staff user is limited to (with every place under it); none: all sites."""

    __tablename__ = "staff_user_site"

    user_id: int = Field(foreign_key="staff_user.id", primary_key=True)
    site_id: int = Field(foreign_key="site.id", primary_key=True)
