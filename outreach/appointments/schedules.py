"""Appointment schedules as data: YAML files staff can edit, read and checked here.

Each file is one kind (`anc`, `postnatal`, `vaccination`, `growth`, `vitamin_a`) with
its anchor (`edd` or `birth`) and entries due at a pregnancy week or an age. The files
shipped in `outreach/appointments/schedules/` are defaults; `OUTREACH_APPOINTMENT_SCHEDULES_DIR`
points at a staff-edited copy (a file there replaces the default of the same kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from dateutil.relativedelta import relativedelta

from messages.encoding import is_gsm7
from outreach.appointments.models import AppointmentKind
from outreach.config import get_settings

DEFAULT_DIR = Path(__file__).parent / "schedules"
ANCHORS = {"edd", "birth"}
SCHEDULED_KINDS = (
    AppointmentKind.ANC,
    AppointmentKind.POSTNATAL,
    AppointmentKind.VACCINATION,
    AppointmentKind.GROWTH,
    AppointmentKind.VITAMIN_A,
)
# Read on a USSD list line beside a date and a name.
LABEL_MAX = 30
MAX_WEEK = 42
MAX_AGE_MONTHS = 60


class ScheduleError(ValueError):
    """A schedule file is malformed."""


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    kind: str
    label: str
    # Exactly one of: pregnancy week (EDD anchor), or days / weeks / months of age.
    week: int | None = None
    days: int = 0
    weeks: int = 0
    months: int = 0
    vaccines: tuple[str, ...] = ()

    def day(self, anchor: date) -> date:
        """The ideal day of this entry for an EDD or a date of birth."""
        if self.week is not None:
            return anchor + timedelta(weeks=self.week - 40)
        return (
            anchor + relativedelta(months=self.months) + timedelta(days=self.days, weeks=self.weeks)
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str
    anchor: str
    guidance: str
    confirmed_by: str | None
    entries: tuple[Entry, ...]
    source: str


def _entry(kind: str, anchor: str, raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict) or not raw.get("key") or not raw.get("label"):
        raise ScheduleError(f"{where}: every entry needs a key and a label")
    key, label = str(raw["key"]), str(raw["label"])
    where = f"{where}: {key}"
    if len(label) > LABEL_MAX or not is_gsm7(label):
        raise ScheduleError(f"{where}: label must be GSM-7 and at most {LABEL_MAX} characters")
    at = raw.get("at")
    if not isinstance(at, dict) or len(at) != 1:
        raise ScheduleError(f"{where}: 'at' needs exactly one of week, days, weeks, months")
    ((unit, value),) = at.items()
    if not isinstance(value, int) or value < 0:
        raise ScheduleError(f"{where}: {unit} must be a whole number >= 0")
    vaccines = tuple(str(v) for v in raw.get("vaccines") or ())
    if kind == AppointmentKind.VACCINATION and not vaccines:
        raise ScheduleError(f"{where}: a vaccination entry names its vaccines")
    if anchor == "edd":
        if unit != "week" or not 1 <= value <= MAX_WEEK:
            raise ScheduleError(f"{where}: an EDD schedule is due at a pregnancy week (1-42)")
        return Entry(key=key, kind=kind, label=label, week=value)
    if unit not in ("days", "weeks", "months"):
        raise ScheduleError(f"{where}: an age is given in days, weeks or months")
    entry = Entry(key=key, kind=kind, label=label, vaccines=vaccines, **{unit: value})
    if entry.day(date(2000, 1, 1)) > date(2000, 1, 1) + relativedelta(months=MAX_AGE_MONTHS):
        raise ScheduleError(f"{where}: beyond {MAX_AGE_MONTHS} months of age")
    return entry


def parse(path: Path) -> Schedule:
    """One schedule file; ScheduleError when it is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScheduleError(f"{path.name}: not YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ScheduleError(f"{path.name}: expected a mapping")
    kind, anchor = str(data.get("kind")), str(data.get("anchor"))
    if kind not in SCHEDULED_KINDS:
        raise ScheduleError(f"{path.name}: kind must be one of {', '.join(SCHEDULED_KINDS)}")
    if anchor not in ANCHORS or (anchor == "edd") != (kind == AppointmentKind.ANC):
        raise ScheduleError(f"{path.name}: anc is anchored on the edd, the others on birth")
    if not data.get("guidance"):
        raise ScheduleError(f"{path.name}: say which national guidance it follows ('guidance')")
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ScheduleError(f"{path.name}: an 'entries' list is required")
    entries = tuple(_entry(kind, anchor, raw, path.name) for raw in raw_entries)
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise ScheduleError(f"{path.name}: duplicate entry keys")
    days = [e.day(date(2000, 1, 1)) for e in entries]
    if days != sorted(days) or len(set(days)) != len(days):
        raise ScheduleError(f"{path.name}: entries must be in order, one per day")
    confirmed = data.get("confirmed_by")
    return Schedule(
        kind=kind,
        anchor=anchor,
        guidance=str(data["guidance"]),
        confirmed_by=str(confirmed) if confirmed else None,
        entries=entries,
        source=str(path),
    )


def load_dir(directory: Path, *, defaults: Path | None = DEFAULT_DIR) -> dict[str, Schedule]:
    """Every schedule by kind: the defaults, replaced kind by kind by `directory`'s files."""
    found: dict[str, Schedule] = {}
    for folder in [d for d in (defaults, directory) if d is not None]:
        seen: set[str] = set()
        for path in sorted(folder.glob("*.yaml")):
            schedule = parse(path)
            if schedule.kind in seen:
                raise ScheduleError(f"{path}: a second file for {schedule.kind}")
            seen.add(schedule.kind)
            found[schedule.kind] = schedule
    keys = [e.key for s in found.values() for e in s.entries]
    if len(set(keys)) != len(keys):
        raise ScheduleError("an entry key is used by two schedules")
    return found


@lru_cache
def load() -> dict[str, Schedule]:
    """The schedules in force (defaults, or the staff directory's)."""
    extra = get_settings().appointment_schedules_dir
    return load_dir(Path(extra) if extra else DEFAULT_DIR)


def entry(key: str) -> Entry | None:
    """A schedule entry by key, whichever schedule holds it."""
    for schedule in load().values():
        for item in schedule.entries:
            if item.key == key:
                return item
    return None


def next_entry(key: str) -> Entry | None:
    """The entry after `key` in its schedule (the next dose), if any."""
    for schedule in load().values():
        keys = [e.key for e in schedule.entries]
        if key in keys:
            index = keys.index(key)
            return schedule.entries[index + 1] if index + 1 < len(keys) else None
    return None
