"""Appointment rules: proposals from the schedules, clinic days, changes, outcomes,
confirmations. Nothing here commits (see `outreach.db`)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.rrule import rrulestr
from sqlalchemy import func, text, update
from sqlmodel import Session, col, select

from messages import texts
from outreach.appointments import planning, schedules
from outreach.appointments.models import (
    Appointment,
    AppointmentKind,
    AppointmentSource,
    AppointmentStatus,
    ClinicRound,
    RoundKind,
)
from outreach.chws.models import Chw
from outreach.config import get_settings
from outreach.db import after_commit
from outreach.outbox import bodies
from outreach.outbox import service as outbox_service
from outreach.outbox.models import (
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Priority,
    is_sendable,
)
from outreach.programmes import service as programmes_service
from outreach.programmes.models import Enrollment, EnrollmentStatus, Programme
from outreach.registry.models import Beneficiary, BeneficiaryStatus, Child
from outreach.sites.models import Facility, Site, SiteLevel
from outreach.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

PLACE_MAX = 40
# Kinds proposed from each programme's anchor.
PROGRAMME_KINDS = {
    Programme.PREGNANCY: (AppointmentKind.ANC,),
    Programme.INFANT: (
        AppointmentKind.POSTNATAL,
        AppointmentKind.VACCINATION,
        AppointmentKind.GROWTH,
        AppointmentKind.VITAMIN_A,
    ),
}
OPEN = AppointmentStatus.SCHEDULED
# Shortest gap between two doses of the EPI series (WHO: 4 weeks).
MIN_DOSE_GAP = timedelta(weeks=4)
# How far back a CHW's list of visits to record reaches.
OUTCOME_LOOKBACK = timedelta(days=60)
REMINDER_PREFIX = "appt:"


class AppointmentError(ValueError):
    """A change that cannot be made; the message is shown to staff (French)."""


# --- reading ----------------------------------------------------------------------


def get(session: Session, *, appointment_id: int) -> Appointment:
    """One appointment, or AppointmentError."""
    found = session.get(Appointment, appointment_id)
    if found is None:
        raise AppointmentError("rendez-vous introuvable")
    return found


def next_for(
    session: Session, *, beneficiary_id: int, today: date | None = None
) -> Appointment | None:
    """Her next scheduled appointment from today on."""
    today = today or local_today()
    return session.exec(
        select(Appointment)
        .where(
            Appointment.beneficiary_id == beneficiary_id,
            Appointment.status == OPEN,
            col(Appointment.due_on) >= today,
        )
        .order_by(col(Appointment.due_on), col(Appointment.id))
    ).first()


def upcoming(session: Session, *, beneficiary_id: int, limit: int = 20) -> list[Appointment]:
    """Her scheduled appointments from today on, soonest first."""
    return list(
        session.exec(
            select(Appointment)
            .where(
                Appointment.beneficiary_id == beneficiary_id,
                Appointment.status == OPEN,
                col(Appointment.due_on) >= local_today(),
            )
            .order_by(col(Appointment.due_on), col(Appointment.id))
            .limit(limit)
        )
    )


def due_for_chw(
    session: Session, *, chw_id: int, today: date | None = None
) -> list[tuple[Appointment, Beneficiary]]:
    """Her beneficiaries' appointments due today or earlier with no outcome yet."""
    today = today or local_today()
    rows = session.exec(
        select(Appointment, Beneficiary)
        .join(Beneficiary, col(Beneficiary.id) == col(Appointment.beneficiary_id))
        .where(
            Beneficiary.chw_id == chw_id,
            Appointment.status == OPEN,
            col(Appointment.due_on) <= today,
            col(Appointment.due_on) >= today - OUTCOME_LOOKBACK,
        )
        .order_by(col(Appointment.due_on), col(Appointment.id))
    ).all()
    return [(a, b) for a, b in rows]


def followups(session: Session, *, chw_id: int) -> list[tuple[Appointment, Beneficiary]]:
    """The CHW's "a suivre" list: missed visits she has not followed up yet."""
    rows = session.exec(
        select(Appointment, Beneficiary)
        .join(Beneficiary, col(Beneficiary.id) == col(Appointment.beneficiary_id))
        .where(
            Beneficiary.chw_id == chw_id,
            Appointment.status == AppointmentStatus.MISSED,
            col(Appointment.followed_up_at).is_(None),
        )
        .order_by(col(Appointment.due_on), col(Appointment.id))
    ).all()
    return [(a, b) for a, b in rows]


def label(appointment: Appointment) -> str:
    """Short name of the visit: the schedule entry's label, else the kind's."""
    entry = schedules.entry(appointment.schedule_key) if appointment.schedule_key else None
    if entry is not None:
        return entry.label
    return planning.kind_label(appointment.kind, "fr")


# --- places and clinic days ---------------------------------------------------------


def default_place(session: Session, beneficiary: Beneficiary) -> tuple[str, int | None]:
    """Where her visits happen unless a clinic day says otherwise: her CHW's facility."""
    chw = session.get(Chw, beneficiary.chw_id) if beneficiary.chw_id else None
    facility = session.get(Facility, chw.facility_id) if chw and chw.facility_id else None
    if facility is not None:
        return short_place(facility.name), facility.id
    village = session.get(Site, beneficiary.village_id) if beneficiary.village_id else None
    return short_place(f"CSCom {village.name}" if village else "CSCom"), None


def short_place(name: str) -> str:
    """A place as it fits an SMS and a USSD line (GSM-safe, at most 40 characters)."""
    return texts.addressee(name, "fr") if len(name) <= 20 else " ".join(name.split())[:PLACE_MAX]


def occurrences(clinic_round: ClinicRound, start: date, end: date) -> list[date]:
    """The round's days between start and end (inclusive): its dates and its rule."""
    days = {date.fromisoformat(d) for d in clinic_round.dates}
    if clinic_round.rrule:
        rule = rrulestr(
            clinic_round.rrule,
            dtstart=datetime.combine(clinic_round.starts_on, datetime.min.time()),
        )
        days |= {
            d.date()
            for d in rule.between(
                datetime.combine(start, datetime.min.time()),
                datetime.combine(end, datetime.min.time()),
                inc=True,
            )
        }
    last = clinic_round.ends_on or end
    return sorted(d for d in days if start <= d <= end and clinic_round.starts_on <= d <= last)


def validate_rrule(rule: str) -> None:
    """Refuse a recurrence dateutil cannot read."""
    try:
        rrulestr(rule, dtstart=datetime(2026, 1, 1))
    except (ValueError, TypeError) as exc:
        raise AppointmentError(
            f"récurrence illisible: {rule!r} (ex. FREQ=MONTHLY;BYDAY=+2TU)"
        ) from exc


def round_villages(session: Session, clinic_round: ClinicRound) -> set[int]:
    """Every village a round covers: those listed, and those under its site."""
    villages = set(clinic_round.villages)
    if clinic_round.site_id is not None:
        site = session.get(Site, clinic_round.site_id)
        if site is not None and site.level == SiteLevel.VILLAGE:
            villages.add(site.id or 0)
        else:
            from outreach.sites import service as sites_service

            villages |= {
                v.id
                for v in sites_service.villages_under(session, site_id=clinic_round.site_id)
                if v.id
            }
    return villages


def _clinic_rounds_for(session: Session, village_id: int | None) -> list[ClinicRound]:
    if village_id is None:
        return []
    rounds = session.exec(
        select(ClinicRound).where(
            ClinicRound.active == True,  # noqa: E712
            ClinicRound.kind == RoundKind.MOBILE_CLINIC,
        )
    ).all()
    return [r for r in rounds if village_id in round_villages(session, r)]


def attach_to_clinic_day(
    session: Session, *, village_id: int | None, ideal: date, today: date
) -> tuple[date, ClinicRound] | None:
    """The real clinic day nearest to `ideal` (within the window, never before today)."""
    window = timedelta(days=get_settings().appointment_clinic_day_window_days)
    best: tuple[date, ClinicRound] | None = None
    for clinic_round in _clinic_rounds_for(session, village_id):
        for day in occurrences(clinic_round, max(today, ideal - window), ideal + window):
            if best is None or (abs(day - ideal), day) < (abs(best[0] - ideal), best[0]):
                best = (day, clinic_round)
    return best


# --- creating, moving, cancelling ------------------------------------------------------


def _new(
    session: Session,
    *,
    dedupe_key: str,
    beneficiary: Beneficiary,
    kind: str,
    due_on: date,
    source: str,
    schedule_key: str | None = None,
    child_id: int | None = None,
    enrollment_id: int | None = None,
    place: str | None = None,
    facility_id: int | None = None,
    round_id: int | None = None,
) -> Appointment | None:
    exists = session.exec(
        select(Appointment.id).where(Appointment.dedupe_key == dedupe_key)
    ).first()
    if exists is not None:
        return None
    if place is None:
        place, facility_id = default_place(session, beneficiary)
    assert beneficiary.id is not None
    appointment = Appointment(
        dedupe_key=dedupe_key,
        beneficiary_id=beneficiary.id,
        child_id=child_id,
        enrollment_id=enrollment_id,
        round_id=round_id,
        kind=kind,
        schedule_key=schedule_key,
        due_on=due_on,
        place=short_place(place),
        facility_id=facility_id,
        source=source,
        addressee=texts.addressee(beneficiary.name, beneficiary.language),
    )
    session.add(appointment)
    session.flush()
    return appointment


def propose(
    session: Session, *, enrollment_id: int, today: date | None = None
) -> list[Appointment]:
    """Appointments from the schedules for an enrollment's anchor; none in the past."""
    today = today or local_today()
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.status != EnrollmentStatus.ACTIVE:
        return []
    beneficiary = session.get(Beneficiary, enrollment.beneficiary_id)
    if beneficiary is None:
        return []
    loaded = schedules.load()
    created = []
    for kind in PROGRAMME_KINDS.get(Programme(enrollment.programme), ()):
        schedule = loaded.get(kind)
        if schedule is None:
            continue
        for entry in schedule.entries:
            ideal = entry.day(enrollment.anchor_date)
            if ideal < today:
                continue  # a late registrant: what is past is not proposed
            attached = attach_to_clinic_day(
                session, village_id=beneficiary.village_id, ideal=ideal, today=today
            )
            day, place, round_id = ideal, None, None
            if attached is not None:
                day, clinic_round = attached
                place, round_id = clinic_round.place, clinic_round.id
            made = _new(
                session,
                dedupe_key=f"prop:{enrollment.id}:{entry.key}",
                beneficiary=beneficiary,
                kind=kind,
                due_on=day,
                source=AppointmentSource.PROPOSED,
                schedule_key=entry.key,
                child_id=enrollment.child_id,
                enrollment_id=enrollment.id,
                place=place,
                round_id=round_id,
            )
            if made is not None:
                created.append(made)
    return created


def propose_for_beneficiary(session: Session, *, beneficiary_id: int) -> list[Appointment]:
    """Proposals for each of her active enrollments (after a registration or a birth)."""
    created: list[Appointment] = []
    for enrollment in programmes_service.active_enrollments(session, beneficiary_id=beneficiary_id):
        assert enrollment.id is not None
        created += propose(session, enrollment_id=enrollment.id)
    return created


PROPOSE_TASK = "appointments.propose"
PROPOSE_QUEUE = "maintenance"


def propose_after_commit(session: Session, *, beneficiary_id: int) -> None:
    """Have a worker propose her appointments once this transaction has committed.

    Proposing writes a row per visit still to come and looks for clinic days: done
    inside the USSD hop that registers her, it would be most of that hop's time. Beat's
    `propose_missing` is the safety net if the message is lost.
    """

    def publish() -> None:
        from workers.app import celery_app

        celery_app.send_task(PROPOSE_TASK, args=[beneficiary_id], queue=PROPOSE_QUEUE)

    after_commit(session, publish)


def propose_missing(session: Session, *, limit: int = 1000) -> int:
    """Proposals for active enrollments that have none yet (registered by any channel)."""
    pending = session.exec(
        select(Enrollment.id)
        .where(
            Enrollment.status == EnrollmentStatus.ACTIVE,
            ~select(Appointment.id)
            .where(col(Appointment.enrollment_id) == col(Enrollment.id))
            .exists(),
            col(Enrollment.created_at) >= utcnow() - timedelta(days=2),
        )
        .limit(limit)
    ).all()
    return sum(len(propose(session, enrollment_id=e)) for e in pending if e is not None)


def _check_day(due_on: date) -> None:
    today = local_today()
    if due_on < today:
        raise AppointmentError("la date est passée")
    if due_on > today + timedelta(days=400):
        raise AppointmentError("date trop lointaine (plus d'un an)")


def create(
    session: Session,
    *,
    beneficiary_id: int,
    kind: str,
    due_on: date,
    source: str,
    place: str | None = None,
    child_id: int | None = None,
) -> Appointment:
    """Set an appointment on a concrete day (a CHW or staff)."""
    _check_day(due_on)
    if kind not in set(AppointmentKind) - {AppointmentKind.AWARENESS, AppointmentKind.CLINIC_DAY}:
        raise AppointmentError(f"type de rendez-vous inconnu: {kind}")
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None or beneficiary.status == BeneficiaryStatus.OPTED_OUT:
        raise AppointmentError("bénéficiaire introuvable ou désinscrite")
    if child_id is not None:
        child = session.get(Child, child_id)
        if child is None or child.mother_id != beneficiary_id:
            raise AppointmentError(f"enfant {child_id} introuvable pour cette bénéficiaire")
    made = _new(
        session,
        dedupe_key=f"set:{uuid.uuid4().hex[:20]}",
        beneficiary=beneficiary,
        kind=kind,
        due_on=due_on,
        source=source,
        child_id=child_id,
        place=place or None,
    )
    assert made is not None and made.id is not None
    planning.plan_one(session, appointment_id=made.id)
    return made


def cancel_reminders(session: Session, *, appointment_id: int, reason: str) -> int:
    """Cancel the appointment's reminders still waiting in the outbox."""
    now = utcnow()
    result = session.execute(
        update(OutboundMessage)
        .where(
            col(OutboundMessage.dedupe_key).like(f"{REMINDER_PREFIX}{appointment_id}:%"),
            is_sendable(),
        )
        .values(status=MessageStatus.CANCELLED, failure_reason=reason, final_at=now, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _open(session: Session, appointment_id: int) -> Appointment:
    appointment = get(session, appointment_id=appointment_id)
    if appointment.status != OPEN:
        raise AppointmentError(f"ce rendez-vous n'est plus prévu ({appointment.status})")
    return appointment


def move(session: Session, *, appointment_id: int, due_on: date, source: str) -> Appointment:
    """Move to another day: a new appointment with its own reminders; the old ones cancelled."""
    _check_day(due_on)
    old = _open(session, appointment_id)
    if old.due_on == due_on:
        return old
    beneficiary = session.get(Beneficiary, old.beneficiary_id)
    assert beneficiary is not None
    new = _new(
        session,
        dedupe_key=f"move:{old.id}",
        beneficiary=beneficiary,
        kind=old.kind,
        due_on=due_on,
        source=source,
        schedule_key=old.schedule_key,
        child_id=old.child_id,
        enrollment_id=old.enrollment_id,
        place=old.place,
        facility_id=old.facility_id,
    )
    assert new is not None and new.id is not None and old.id is not None
    old.status = AppointmentStatus.MOVED
    old.moved_to_id = new.id
    old.updated_at = utcnow()
    session.add(old)
    cancel_reminders(session, appointment_id=old.id, reason="appointment_moved")
    planning.plan_one(session, appointment_id=new.id)
    return new


def cancel(session: Session, *, appointment_id: int) -> Appointment:
    """Cancel an appointment and its waiting reminders."""
    appointment = _open(session, appointment_id)
    assert appointment.id is not None
    appointment.status = AppointmentStatus.CANCELLED
    appointment.updated_at = utcnow()
    session.add(appointment)
    cancel_reminders(session, appointment_id=appointment.id, reason="appointment_cancelled")
    return appointment


def cancel_open(session: Session, *, beneficiary_id: int, kinds: tuple[str, ...]) -> int:
    """Cancel her scheduled appointments of these kinds (after a birth or a loss)."""
    found = session.exec(
        select(Appointment).where(
            Appointment.beneficiary_id == beneficiary_id,
            Appointment.status == OPEN,
            col(Appointment.kind).in_(kinds),
        )
    ).all()
    for appointment in found:
        assert appointment.id is not None
        cancel(session, appointment_id=appointment.id)
    return len(found)


# --- outcomes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    appointment: Appointment
    next_dose: Appointment | None = None


def record_outcome(
    session: Session, *, appointment_id: int, attended: bool, chw_id: int | None
) -> Outcome:
    """Attended: reminders cleared, next dose proposed. Missed: a kind SMS, on "a suivre"."""
    appointment = _open(session, appointment_id)
    assert appointment.id is not None
    now = utcnow()
    appointment.status = AppointmentStatus.ATTENDED if attended else AppointmentStatus.MISSED
    appointment.outcome_at = now
    appointment.outcome_chw_id = chw_id
    appointment.updated_at = now
    session.add(appointment)
    cancel_reminders(
        session,
        appointment_id=appointment.id,
        reason="appointment_attended" if attended else "appointment_missed",
    )
    if not attended:
        _missed_message(session, appointment)
        return Outcome(appointment)
    next_dose = None
    if appointment.kind == AppointmentKind.VACCINATION and appointment.schedule_key:
        next_dose = _propose_next_dose(session, appointment, attended_on=local_today())
    return Outcome(appointment, next_dose)


def _propose_next_dose(
    session: Session, done: Appointment, *, attended_on: date
) -> Appointment | None:
    following = schedules.next_entry(done.schedule_key or "")
    if following is None:
        return None
    child = session.get(Child, done.child_id) if done.child_id else None
    ideal = following.day(child.birth_date) if child else attended_on + MIN_DOSE_GAP
    day = max(ideal, attended_on + MIN_DOSE_GAP)
    existing = session.exec(
        select(Appointment).where(
            Appointment.beneficiary_id == done.beneficiary_id,
            Appointment.schedule_key == following.key,
            Appointment.status == OPEN,
            col(Appointment.child_id) == done.child_id
            if done.child_id
            else col(Appointment.child_id).is_(None),
        )
    ).first()
    if existing is not None:
        if existing.due_on < day:
            assert existing.id is not None
            return move(
                session, appointment_id=existing.id, due_on=day, source=AppointmentSource.PROPOSED
            )
        return existing
    beneficiary = session.get(Beneficiary, done.beneficiary_id)
    assert beneficiary is not None
    return _new(
        session,
        dedupe_key=f"dose:{done.id}:{following.key}",
        beneficiary=beneficiary,
        kind=AppointmentKind.VACCINATION,
        due_on=day,
        source=AppointmentSource.PROPOSED,
        schedule_key=following.key,
        child_id=done.child_id,
        enrollment_id=done.enrollment_id,
        place=done.place,
        facility_id=done.facility_id,
    )


def _missed_message(session: Session, appointment: Appointment) -> None:
    beneficiary = session.get(Beneficiary, appointment.beneficiary_id)
    if beneficiary is None or beneficiary.status != BeneficiaryStatus.ACTIVE:
        return
    to = programmes_service.recipient(session, beneficiary=beneficiary)
    if to is None:
        return
    safe = get_settings().content_gsm_safe.get(to.language, True)
    body = texts.render(
        "appt_missed",
        to.language,
        gsm_safe=safe,
        name=bodies.NAME,
        kind=planning.kind_label(appointment.kind, to.language),
    )
    outbox_service.enqueue(
        session,
        dedupe_key=f"appt-missed:{appointment.id}",
        to_number=to.number,
        body=body,
        addressee=to.addressee,
        kind=MessageKind.REMINDER,
        priority=Priority.REMINDER,
        beneficiary_id=beneficiary.id,
        language=to.language,
    )


def mark_followed_up(session: Session, *, appointment_id: int) -> Appointment:
    """Take a missed visit off the CHW's "a suivre" list."""
    appointment = get(session, appointment_id=appointment_id)
    appointment.followed_up_at = utcnow()
    session.add(appointment)
    return appointment


# --- confirmations ----------------------------------------------------------------------


def confirm_next(session: Session, *, beneficiary_ids: list[int]) -> Appointment | None:
    """OK / OUI by SMS: confirm the soonest scheduled appointment of the women on the phone."""
    if not beneficiary_ids:
        return None
    found = session.exec(
        select(Appointment)
        .where(
            col(Appointment.beneficiary_id).in_(beneficiary_ids),
            Appointment.status == OPEN,
            col(Appointment.due_on) >= local_today(),
        )
        .order_by(col(Appointment.due_on), col(Appointment.id))
    ).first()
    if found is None:
        return None
    if found.confirmed_at is None:
        found.confirmed_at = utcnow()
        session.add(found)
    return found


def confirmation_text(appointment: Appointment, language: str) -> str:
    """The reply to her OK: what she confirmed."""
    safe = get_settings().content_gsm_safe.get(language, True)
    return texts.render(
        "appt_confirmed",
        language,
        gsm_safe=safe,
        kind=planning.kind_label(appointment.kind, language),
        date=appointment.due_on.strftime("%d/%m"),
        place=appointment.place,
    )


def confirmation_rates(session: Session, *, since: date, until: date) -> list[dict[str, Any]]:
    """Per site (her village): appointments due in the period and how many she confirmed."""
    rows = session.exec(
        select(
            Site.id,
            Site.name,
            func.count(col(Appointment.id)),
            func.count(col(Appointment.confirmed_at)),
        )
        .join(Beneficiary, col(Beneficiary.id) == col(Appointment.beneficiary_id))
        .join(Site, col(Site.id) == col(Beneficiary.village_id))
        .where(
            col(Appointment.due_on) >= since,
            col(Appointment.due_on) <= until,
            col(Appointment.status).not_in([AppointmentStatus.CANCELLED, AppointmentStatus.MOVED]),
        )
        .group_by(col(Site.id), col(Site.name))
        .order_by(col(Site.name))
    ).all()
    return [
        {
            "site_id": site_id,
            "site": name,
            "appointments": total,
            "confirmed": confirmed,
            "rate": round(confirmed / total, 3) if total else None,
        }
        for site_id, name, total, confirmed in rows
    ]


# --- clinic rounds and awareness sessions ----------------------------------------------------


def create_round(
    session: Session,
    *,
    kind: str,
    name: str,
    place: str,
    starts_on: date,
    ends_on: date | None = None,
    site_id: int | None = None,
    villages: list[int] | None = None,
    dates: list[date] | None = None,
    rrule: str | None = None,
    topic: str | None = None,
    facility_id: int | None = None,
) -> ClinicRound:
    """A mobile-clinic round or an awareness session: where, for which villages, when."""
    if kind not in set(RoundKind):
        raise AppointmentError(f"type de tournée inconnu: {kind}")
    if not dates and not rrule:
        raise AppointmentError("donnez des dates ou une récurrence")
    if site_id is None and not villages:
        raise AppointmentError("donnez un site ou des villages")
    if rrule:
        validate_rrule(rrule)
    if site_id is not None and session.get(Site, site_id) is None:
        raise AppointmentError(f"site {site_id} introuvable")
    if facility_id is not None and session.get(Facility, facility_id) is None:
        raise AppointmentError(f"centre de santé {facility_id} introuvable")
    for village in villages or []:
        found = session.get(Site, village)
        if found is None or found.level != SiteLevel.VILLAGE:
            raise AppointmentError(f"village {village} introuvable")
    clinic_round = ClinicRound(
        kind=kind,
        name=name,
        topic=topic,
        place=short_place(place),
        facility_id=facility_id,
        site_id=site_id,
        villages=sorted(set(villages or [])),
        dates=sorted(d.isoformat() for d in dates or []),
        rrule=rrule,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    session.add(clinic_round)
    session.flush()
    return clinic_round


def materialize_rounds(session: Session, *, today: date | None = None) -> int:
    """Each round day in the horizon becomes an appointment for every active woman of its
    villages (set-based); awareness sessions also get their invitation."""
    today = today or local_today()
    end = today + timedelta(days=get_settings().appointment_round_horizon_days)
    rounds = session.exec(select(ClinicRound).where(ClinicRound.active == True)).all()  # noqa: E712
    created = 0
    now = utcnow()
    for clinic_round in rounds:
        villages = sorted(round_villages(session, clinic_round))
        days = occurrences(clinic_round, today, end)
        if not villages or not days:
            continue
        kind = (
            AppointmentKind.AWARENESS
            if clinic_round.kind == RoundKind.AWARENESS
            else AppointmentKind.CLINIC_DAY
        )
        for day in days:
            result = session.execute(
                text(_ROUND_SQL.format(villages=", ".join(str(int(v)) for v in villages))),
                {
                    "prefix": f"round:{clinic_round.id}:{day.isoformat()}:",
                    "round_id": clinic_round.id,
                    "kind": kind.value,
                    "topic": clinic_round.topic,
                    "day": day,
                    "place": clinic_round.place,
                    "facility_id": clinic_round.facility_id,
                    "scheduled": OPEN.value,
                    "source": AppointmentSource.ROUND.value,
                    "active": BeneficiaryStatus.ACTIVE.value,
                    "now": now,
                },
            )
            created += max(0, int(getattr(result, "rowcount", 0) or 0))
            if kind == AppointmentKind.AWARENESS:
                _invite(session, round_id=clinic_round.id or 0, day=day)
    return created


# Addressee: the one heading her programme messages, its ciphertext copied as it is (names
# are encrypted, so SQL cannot cut one); the set-based path has no Python per row.
_ROUND_SQL = """INSERT INTO appointment (
    dedupe_key, beneficiary_id, round_id, kind, schedule_key, due_on, place, facility_id,
    status, source, addressee, created_at, updated_at
)
SELECT :prefix || CAST(b.id AS VARCHAR(20)), b.id, :round_id, :kind, :topic, :day, :place,
       :facility_id, :scheduled, :source,
       (SELECT MAX(e.addressee) FROM enrollment e WHERE e.beneficiary_id = b.id), :now, :now
FROM beneficiary b
WHERE b.status = :active AND b.village_id IN ({villages})
ON CONFLICT (dedupe_key) DO NOTHING"""


def _invite(session: Session, *, round_id: int, day: date) -> int:
    """The invitation to an awareness session: once per appointment, set-based."""
    zone = planning.ZoneInfo(get_settings().timezone)
    expires = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    key = "appt_invitation"
    row = planning.PlanRow(
        kind=AppointmentKind.AWARENESS.value,
        slot="invite",
        day=day,
        due_at=utcnow(),
        expires_at=expires.astimezone(planning.UTC),
        text_fr=planning.template(key, "fr", kind=AppointmentKind.AWARENESS, day=day),
        text_bm=planning.template(key, "bm", kind=AppointmentKind.AWARENESS, day=day),
    )
    ids = session.exec(
        select(func.min(Appointment.id), func.max(Appointment.id)).where(
            Appointment.round_id == round_id, Appointment.due_on == day
        )
    ).one()
    if ids[0] is None or ids[1] is None:
        return 0
    return planning.plan_batch(session, rows=[row], id_from=ids[0], id_to=ids[1] + 1)
