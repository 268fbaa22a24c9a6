"""Staff API for appointments and clinic rounds (mounted under /api/v1)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, select

from outreach.accounts import scopes
from outreach.accounts.deps import Manager, Officer, Viewer
from outreach.appointments import service
from outreach.appointments.models import (
    Appointment,
    AppointmentKind,
    AppointmentSource,
    ClinicRound,
)
from outreach.audit.service import record
from outreach.db import SessionDep
from outreach.registry.models import Beneficiary
from outreach.timeutil import local_today

router = APIRouter(prefix="/appointments", tags=["appointments"])

SETTABLE = Literal["anc", "postnatal", "vaccination", "growth", "vitamin_a"]


class NewAppointment(BaseModel):
    beneficiary_id: int
    kind: SETTABLE
    due_on: date
    place: str | None = Field(default=None, max_length=40)
    child_id: int | None = None


class MoveAppointment(BaseModel):
    due_on: date


class NewRound(BaseModel):
    kind: Literal["mobile_clinic", "awareness"] = "mobile_clinic"
    name: str = Field(min_length=2, max_length=120)
    place: str = Field(min_length=2, max_length=40)
    starts_on: date
    ends_on: date | None = None
    site_id: int | None = None
    villages: list[int] = Field(default_factory=list)
    dates: list[date] = Field(default_factory=list)
    rrule: str | None = Field(default=None, max_length=200, examples=["FREQ=MONTHLY;BYDAY=+2TU"])
    topic: str | None = Field(default=None, max_length=40)
    facility_id: int | None = None


def _out(appointment: Appointment) -> dict[str, Any]:
    data = appointment.model_dump(mode="json")
    data["label"] = service.label(appointment)
    return data


def _visible(db: Session, user: Any, appointment_id: int) -> None:
    # Outside the user's sites reads exactly as missing (the service's own refusal).
    found = db.get(Appointment, appointment_id)
    if found is not None and not scopes.sees_woman(
        db, user=user, beneficiary_id=found.beneficiary_id
    ):
        raise _refuse(service.AppointmentError("rendez-vous introuvable"))


def _refuse(exc: service.AppointmentError) -> HTTPException:
    return HTTPException(status_code=422, detail=str(exc))


@router.get("", response_model=None)
def list_appointments(
    db: SessionDep,
    user: Viewer,
    status: str | None = None,
    kind: AppointmentKind | None = None,
    beneficiary_id: int | None = None,
    village_id: int | None = None,
    chw_id: int | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """Appointments, filtered, soonest first, a page at a time."""
    query = select(Appointment).join(
        Beneficiary, col(Beneficiary.id) == col(Appointment.beneficiary_id)
    )
    filters = []
    # A user limited to some sites sees the appointments of their women only.
    in_scope = scopes.village_condition(Beneficiary.village_id, scopes.villages(db, user=user))
    if in_scope is not None:
        filters.append(in_scope)
    if status:
        filters.append(col(Appointment.status) == status)
    if kind:
        filters.append(col(Appointment.kind) == kind.value)
    if beneficiary_id is not None:
        filters.append(col(Appointment.beneficiary_id) == beneficiary_id)
    if village_id is not None:
        filters.append(col(Beneficiary.village_id) == village_id)
    if chw_id is not None:
        filters.append(col(Beneficiary.chw_id) == chw_id)
    if due_from:
        filters.append(col(Appointment.due_on) >= due_from)
    if due_to:
        filters.append(col(Appointment.due_on) <= due_to)
    query = query.where(*filters)
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(
        query.order_by(col(Appointment.due_on), col(Appointment.id)).offset(offset).limit(limit)
    ).all()
    return {"total": total, "limit": limit, "offset": offset, "items": [_out(a) for a in rows]}


@router.post("", response_model=None, status_code=201)
def set_appointment(
    body: NewAppointment, db: SessionDep, user: Officer, request: Request
) -> dict[str, Any]:
    """Set an appointment on a concrete day; its reminders are planned."""
    if not scopes.sees_woman(db, user=user, beneficiary_id=body.beneficiary_id):
        # Read exactly as a woman who does not exist.
        raise _refuse(service.AppointmentError("bénéficiaire introuvable ou désinscrite"))
    try:
        made = service.create(
            db,
            beneficiary_id=body.beneficiary_id,
            kind=body.kind,
            due_on=body.due_on,
            source=AppointmentSource.STAFF,
            place=body.place,
            child_id=body.child_id,
        )
    except service.AppointmentError as exc:
        raise _refuse(exc) from None
    record(
        db,
        action="appointment.set",
        user=user,
        object_type="appointment",
        object_id=made.id,
        detail={"kind": made.kind, "due_on": made.due_on.isoformat()},
        ip=_ip(request),
    )
    return _out(made)


@router.post("/{appointment_id}/move", response_model=None)
def move_appointment(
    appointment_id: int, body: MoveAppointment, db: SessionDep, user: Officer, request: Request
) -> dict[str, Any]:
    """Move to another day: the old reminders are cancelled, new ones planned."""
    _visible(db, user, appointment_id)
    try:
        moved = service.move(
            db, appointment_id=appointment_id, due_on=body.due_on, source=AppointmentSource.STAFF
        )
    except service.AppointmentError as exc:
        raise _refuse(exc) from None
    record(
        db,
        action="appointment.move",
        user=user,
        object_type="appointment",
        object_id=appointment_id,
        detail={"moved_to": moved.id, "due_on": moved.due_on.isoformat()},
        ip=_ip(request),
    )
    return _out(moved)


@router.post("/{appointment_id}/cancel", response_model=None)
def cancel_appointment(
    appointment_id: int, db: SessionDep, user: Officer, request: Request
) -> dict[str, Any]:
    """Cancel an appointment and its waiting reminders."""
    _visible(db, user, appointment_id)
    try:
        cancelled = service.cancel(db, appointment_id=appointment_id)
    except service.AppointmentError as exc:
        raise _refuse(exc) from None
    record(
        db,
        action="appointment.cancel",
        user=user,
        object_type="appointment",
        object_id=appointment_id,
        ip=_ip(request),
    )
    return _out(cancelled)


@router.get("/confirmation-rates", response_model=None)
def confirmation_rates(
    db: SessionDep, _user: Viewer, since: date | None = None, until: date | None = None
) -> dict[str, Any]:
    """Per site: appointments due in the period and the share confirmed by SMS."""
    until = until or local_today()
    since = since or until - timedelta(days=30)
    return {
        "since": since,
        "until": until,
        "sites": service.confirmation_rates(db, since=since, until=until),
    }


@router.get("/rounds", response_model=None)
def list_rounds(db: SessionDep, _user: Viewer) -> dict[str, Any]:
    """Clinic rounds and awareness sessions, with their next days."""
    today = local_today()
    rounds = db.exec(select(ClinicRound).order_by(col(ClinicRound.id))).all()
    return {
        "items": [
            {
                **r.as_dict(),
                "next_days": [
                    d.isoformat() for d in service.occurrences(r, today, today + timedelta(days=90))
                ][:6],
            }
            for r in rounds
        ]
    }


@router.post("/rounds", response_model=None, status_code=201)
def create_round(body: NewRound, db: SessionDep, user: Manager, request: Request) -> dict[str, Any]:
    """Define a mobile-clinic round or an awareness session."""
    try:
        made = service.create_round(db, **body.model_dump())
    except service.AppointmentError as exc:
        raise _refuse(exc) from None
    record(
        db,
        action="clinic_round.create",
        user=user,
        object_type="clinic_round",
        object_id=made.id,
        detail={"name": made.name, "kind": made.kind},
        ip=_ip(request),
    )
    return made.as_dict()


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None
