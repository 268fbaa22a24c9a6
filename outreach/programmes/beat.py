"""Beat entries for the daily fan-out: one per configured local time."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab

from outreach.config import Settings

FAN_OUT_TASK = "programmes.fan_out"
FAN_OUT_QUEUE = "maintenance"


def fan_out_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """`beat_schedule` entries running the fan-out at each `programme_fanout_times`."""
    entries: dict[str, dict[str, Any]] = {}
    zone = ZoneInfo(settings.timezone)
    for value in settings.programme_fanout_times:
        local = time.fromisoformat(value)
        # Beat runs in UTC. Africa/Bamako has no daylight saving, so today's offset holds
        # all year; a zone with DST would shift the run by an hour for half the year.
        utc = datetime.combine(datetime.now(zone).date(), local, tzinfo=zone).astimezone(UTC)
        entries[f"programmes-fan-out-{local.strftime('%H%M')}"] = {
            "task": FAN_OUT_TASK,
            "schedule": crontab(hour=utc.hour, minute=utc.minute),
            # A run that could not start within the hour waits for the next one (which
            # catches up the missed day), rather than piling up behind a long outage.
            "options": {"queue": FAN_OUT_QUEUE, "expires": 3600},
        }
    return entries
