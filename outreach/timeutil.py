"""Clock helpers. Timestamps are timezone-aware UTC everywhere (SQLModel enforces it)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from outreach.config import get_settings


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def local_today() -> date:
    """Today's date in the programme's time zone (Africa/Bamako by default)."""
    return datetime.now(ZoneInfo(get_settings().timezone)).date()
