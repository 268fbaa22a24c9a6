"""Reminder planning: every reminder due soon, inserted into the outbox in SQL.

Mirrors the programme fan-out (`outreach/programmes/fanout.py`). For one send day, each
(kind, slot) of the settings reminds the appointments of one calendar day, at one time
window; those few rows become a VALUES list (with the texts already filled for that
kind and day) that the database joins with the appointments. Only `{place}` is filled
per row, by REPLACE. Every row's dedupe key is `appt:<appointment id>:<slot>` under the
outbox's unique index and the insert is `ON CONFLICT DO NOTHING`: a re-run inserts only
what is missing, and a moved appointment (a new row, a new id) gets its own reminders.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, Date, bindparam, func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.sqltypes import UTCDateTime

from messages import texts
from outreach.appointments.models import Appointment, AppointmentKind, AppointmentStatus
from outreach.config import get_settings
from outreach.db import unit_of_work
from outreach.outbox.models import MessageKind, MessageStatus, Priority
from outreach.outbox.windows import SendWindow, parse_window
from outreach.programmes.fanout import (
    LANGUAGE,
    NAME_MARK,
    OWN,
    RECIPIENT_JOINS,
    TO_INDEX,
    TO_NUMBER,
    addressee_sql,
    recipient_params,
)
from outreach.registry.models import BeneficiaryStatus
from outreach.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

_SLOT = re.compile(r"^\s*(\d{1,2})\s+(\S+)\s*$")
DEFAULT_SLOTS = "default"
DATE_FORMAT = "%d/%m"


@dataclass(frozen=True, slots=True)
class Slot:
    """One reminder: how many days before the appointment, inside which local window."""

    name: str
    days_before: int
    window: SendWindow


def parse_slot(name: str, spec: str) -> Slot:
    """Read "1 18:00-20:00": the day before, between 18:00 and 20:00."""
    match = _SLOT.match(spec)
    if not match or not re.fullmatch(r"[a-z0-9_]{1,16}", name):
        raise ValueError(f"reminder slot {name}={spec!r}: expected '<days before> HH:MM-HH:MM'")
    window = parse_window(match.group(2))
    if window.always_open or window.end < window.start:
        raise ValueError(f"reminder slot {name}={spec!r}: a window inside one day")
    return Slot(name=name, days_before=int(match.group(1)), window=window)


def slots_for(kind: str) -> list[Slot]:
    """The reminder slots of an appointment kind (its own, else the default ones)."""
    configured = get_settings().appointment_reminder_slots
    chosen = configured.get(kind, configured.get(DEFAULT_SLOTS, {}))
    return [parse_slot(name, spec) for name, spec in sorted(chosen.items())]


def quiet_hours() -> SendWindow:
    """The send window reminders obey (the outbox's, for the reminder kind)."""
    settings = get_settings()
    return parse_window(
        settings.send_window_by_kind.get(MessageKind.REMINDER, settings.send_window)
    )


def _at(day: date, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, dtime(0, 0), tzinfo=zone) + timedelta(minutes=minute)


def slot_times(
    day: date, slot: Slot, *, quiet: SendWindow, zone: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """When the reminder for an appointment on `day` may go out (UTC), or None.

    The slot's window opens on `day - days_before`; inside quiet hours it waits for their
    opening. If quiet hours cover the whole slot, no reminder: one sent later would be
    late (the evening reminder at breakfast), and one sent earlier would wake her.
    """
    send_day = day - timedelta(days=slot.days_before)
    opens = _at(send_day, slot.window.start, zone)
    closes = _at(send_day, slot.window.end, zone)
    first = quiet.next_opening(opens)
    if first >= closes:
        return None
    return first.astimezone(UTC), closes.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PlanRow:
    kind: str
    slot: str
    day: date
    due_at: datetime
    expires_at: datetime
    text_fr: str
    text_bm: str


def _gsm_safe(language: str) -> bool:
    return get_settings().content_gsm_safe.get(language, True)


def kind_label(kind: str, language: str) -> str:
    """How an appointment kind reads in an SMS ("consultation prénatale")."""
    return texts.render(f"appt_kind_{kind}", language, gsm_safe=_gsm_safe(language))


def template(key: str, language: str, *, kind: str, day: date) -> str:
    """A reminder text with everything but `{place}` filled (the SQL fills that)."""
    return texts.render(
        key,
        language,
        gsm_safe=_gsm_safe(language),
        kind=kind_label(kind, language),
        date=day.strftime(DATE_FORMAT),
        place="{place}",
    )


def plan_rows(send_day: date, *, now: datetime | None = None) -> list[PlanRow]:
    """Every (kind, slot) whose reminders go out on `send_day` and can still be sent."""
    now = now or utcnow()
    zone = ZoneInfo(get_settings().timezone)
    quiet = quiet_hours()
    rows = []
    for kind in AppointmentKind:
        for slot in slots_for(kind):
            day = send_day + timedelta(days=slot.days_before)
            times = slot_times(day, slot, quiet=quiet, zone=zone)
            if times is None or times[1] <= now:
                continue
            key = "appt_reminder_morning" if slot.days_before == 0 else "appt_reminder_eve"
            rows.append(
                PlanRow(
                    kind=kind.value,
                    slot=slot.name,
                    day=day,
                    due_at=times[0],
                    expires_at=times[1],
                    text_fr=template(key, "fr", kind=kind, day=day),
                    text_bm=template(key, "bm", kind=kind, day=day),
                )
            )
    return rows


def _by_language(expr_bm: str, expr_fr: str, language: str) -> str:
    return f"(CASE WHEN {language} = 'bm' THEN {expr_bm} ELSE {expr_fr} END)"


def body_sql() -> str:
    """The SMS body: her text with the place, behind a name prefix on a shared or CHW phone."""
    own = f"REPLACE({_by_language('s.t_bm', 's.t_fr', 'b.language')}, '{{place}}', a.place)"
    relay = f"REPLACE({_by_language('s.t_bm', 's.t_fr', 'c.language')}, '{{place}}', a.place)"
    name = NAME_MARK
    shared = (
        f"{_by_language(':sh_bm_1', ':sh_fr_1', 'b.language')} || {name} || "
        f"{_by_language(':sh_bm_2', ':sh_fr_2', 'b.language')} || {own}"
    )
    relayed = (
        f"{_by_language(':chw_bm_1', ':chw_fr_1', 'c.language')} || {name} || "
        f"{_by_language(':chw_bm_2', ':chw_fr_2', 'c.language')} || {relay}"
    )
    return f"""CASE WHEN {OWN} AND b.phone_kind = :kind_shared THEN {shared}
         WHEN {OWN} THEN {own}
         ELSE {relayed} END"""


def address_params() -> dict[str, str]:
    params = {}
    for language in ("fr", "bm"):
        for relay, name in ((False, "sh"), (True, "chw")):
            before, after = texts.address_parts(language, relay=relay, gsm_safe=_gsm_safe(language))
            params[f"{name}_{language}_1"] = before
            params[f"{name}_{language}_2"] = after
    return params


def _insert_sql(rows: int) -> str:
    values = ",\n    ".join(
        f"(:k{i}, :s{i}, :d{i}, :due{i}, :exp{i}, :tf{i}, :tb{i})" for i in range(rows)
    )
    # As in the fan-out: INSERT first so drivers report the row count, and a WHERE before
    # ON CONFLICT so SQLite does not read ON as a join constraint.
    return f"""INSERT INTO outbound_message (
    dedupe_key, kind, priority, to_number, to_index, body, addressee, sender_id, language,
    beneficiary_id, status, due_at, expires_at, created_at, updated_at, attempt_count
)
WITH s(kind, slot, day, due_at, expires_at, t_fr, t_bm) AS (
    VALUES {values}
)
SELECT x.dedupe_key, :message_kind, :priority, x.to_number, x.to_index, x.body,
       x.addressee, :sender_id, x.language, x.beneficiary_id, :queued, x.due_at,
       x.expires_at, :now, :now, 0
FROM (
    SELECT 'appt:' || CAST(a.id AS VARCHAR(20)) || ':' || s.slot AS dedupe_key,
           b.id AS beneficiary_id,
           {TO_NUMBER} AS to_number,
           {TO_INDEX} AS to_index,
           {LANGUAGE} AS language,
           {body_sql()} AS body,
           {addressee_sql("a.addressee")} AS addressee,
           s.due_at AS due_at,
           s.expires_at AS expires_at
    FROM s
    JOIN appointment a ON a.kind = s.kind AND a.due_on = s.day
    JOIN beneficiary b ON b.id = a.beneficiary_id
    {RECIPIENT_JOINS}
    WHERE a.status = :scheduled AND b.status = :beneficiary_active
      AND a.id >= :id_from AND a.id < :id_to
) x
WHERE x.to_number IS NOT NULL
ON CONFLICT (dedupe_key) DO NOTHING"""  # noqa: S608 - our own fragments, values bound


def plan_batch(session: Session, *, rows: list[PlanRow], id_from: int, id_to: int) -> int:
    """Insert the reminders of `rows` for appointments with id_from <= id < id_to."""
    if not rows:
        return 0
    params: dict[str, Any] = {
        "id_from": id_from,
        "id_to": id_to,
        "now": utcnow(),
        "message_kind": MessageKind.REMINDER.value,
        "priority": int(Priority.REMINDER),
        "queued": MessageStatus.QUEUED.value,
        "sender_id": get_settings().at_sender_id,
        "scheduled": AppointmentStatus.SCHEDULED.value,
        "beneficiary_active": BeneficiaryStatus.ACTIVE.value,
        **recipient_params(),
        **address_params(),
    }
    binds: list[BindParameter[Any]] = [bindparam("now", type_=UTCDateTime())]
    for i, row in enumerate(rows):
        params.update(
            {
                f"k{i}": row.kind,
                f"s{i}": row.slot,
                f"d{i}": row.day,
                f"due{i}": row.due_at,
                f"exp{i}": row.expires_at,
                f"tf{i}": row.text_fr,
                f"tb{i}": row.text_bm,
            }
        )
        binds += [
            bindparam(f"d{i}", type_=Date),
            bindparam(f"due{i}", type_=UTCDateTime()),
            bindparam(f"exp{i}", type_=UTCDateTime()),
        ]
    result = session.execute(text(_insert_sql(len(rows))).bindparams(*binds), params)
    return max(0, int(getattr(result, "rowcount", 0) or 0))


def send_days(today: date, horizon: int) -> list[date]:
    return [today + timedelta(days=n) for n in range(horizon + 1)]


def plan_one(session: Session, *, appointment_id: int) -> int:
    """Plan the reminders of one appointment set or moved after the periodic run."""
    horizon = get_settings().appointment_plan_horizon_days
    rows = [r for day in send_days(local_today(), horizon) for r in plan_rows(day)]
    return plan_batch(session, rows=rows, id_from=appointment_id, id_to=appointment_id + 1)


@dataclass(frozen=True, slots=True)
class PlanResult:
    rows: int
    batches: int
    inserted: int
    seconds: float


def run(
    *,
    today: date | None = None,
    engine: Engine | None = None,
    batch_size: int | None = None,
    now: datetime | None = None,
) -> PlanResult:
    """Plan every reminder sent from today to the horizon, one transaction per id range."""
    settings = get_settings()
    started = time.perf_counter()
    today = today or local_today()
    batch_size = batch_size or settings.appointment_plan_batch
    rows = [
        r
        for day in send_days(today, settings.appointment_plan_horizon_days)
        for r in plan_rows(day, now=now)
    ]
    batches = inserted = 0
    if rows:
        days = sorted({r.day for r in rows})
        with unit_of_work(engine) as session:
            low, high = session.exec(
                select(func.min(Appointment.id), func.max(Appointment.id)).where(
                    col(Appointment.due_on).in_(days),
                    Appointment.status == AppointmentStatus.SCHEDULED,
                )
            ).one()
        if low is not None and high is not None:
            for id_from in range(low, high + 1, batch_size):
                with unit_of_work(engine) as session:
                    inserted += plan_batch(
                        session, rows=rows, id_from=id_from, id_to=id_from + batch_size
                    )
                batches += 1
    result = PlanResult(
        rows=len(rows), batches=batches, inserted=inserted, seconds=time.perf_counter() - started
    )
    log.info(
        "reminder planning %s: %d reminders in %d batches (%.1fs)",
        today,
        inserted,
        batches,
        result.seconds,
    )
    return result
