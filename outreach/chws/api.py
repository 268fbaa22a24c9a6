"""`/api/v1/chws`: community health workers. Everyone reads; managers write."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import false
from sqlmodel import Session, col, select

from outreach.accounts import scopes
from outreach.accounts.deps import Manager, Viewer
from outreach.api_common import (
    ERRORS,
    NOT_FOUND,
    Page,
    PageDep,
    client_ip,
    domain_errors,
    not_found,
    paginate,
)
from outreach.audit import service as audit
from outreach.chws import service
from outreach.chws.models import Chw, ChwSite
from outreach.db import SessionDep
from outreach.registry import names, phones
from outreach.registry.models import NameKind, Phone, has_number
from outreach.timeutil import utcnow

router = APIRouter(tags=["chws"])

Language = Literal["fr", "bm"]


class ChwOut(BaseModel):
    id: int
    name: str
    phone: str | None
    language: str
    facility_id: int | None
    site_ids: list[int]
    active: bool
    locked: bool
    created_at: datetime


class ChwIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    phone: str = Field(min_length=4, max_length=20)
    pin: str = Field(pattern=r"^\d{4}$", description="4 chiffres")
    site_ids: list[int] = Field(min_length=1)
    language: Language = "fr"
    facility_id: int | None = None


class ChwPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    language: Language | None = None
    facility_id: int | None = None
    site_ids: list[int] | None = None


class PinIn(BaseModel):
    pin: str = Field(pattern=r"^\d{4}$", description="4 chiffres")


def _out(db: Session, chw: Chw) -> ChwOut:
    assert chw.id is not None
    phone = db.get(Phone, chw.phone_id)
    now = utcnow()
    return ChwOut(
        id=chw.id,
        name=chw.name,
        phone=phone.e164 if phone else None,
        language=chw.language,
        facility_id=chw.facility_id,
        site_ids=service.site_ids(db, chw_id=chw.id),
        active=chw.active,
        locked=chw.locked_until is not None and chw.locked_until > now,
        created_at=chw.created_at,
    )


def _get(db: Session, chw_id: int, user: Any = None) -> Chw:
    chw = db.get(Chw, chw_id)
    if chw is None or (user is not None and not scopes.sees_chw(db, user=user, chw_id=chw_id)):
        raise not_found("agent")
    return chw


@router.get("/chws", response_model=None, responses={200: {"model": Page[ChwOut]}, **ERRORS})
def list_chws(
    user: Viewer,
    db: SessionDep,
    page: PageDep,
    site_id: int | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=120, description="nom ou numéro")] = None,
) -> Any:
    """CHWs, filtered by covered site, state, or name / phone."""
    # By id, not by name: names are encrypted, and an API client pages through them all.
    stmt = select(Chw).order_by(col(Chw.id))
    in_scope = scopes.chw_condition(db, user=user)
    if in_scope is not None:
        stmt = stmt.where(in_scope)
    if site_id is not None:
        stmt = stmt.where(col(Chw.id).in_(select(ChwSite.chw_id).where(ChwSite.site_id == site_id)))
    if active is not None:
        stmt = stmt.where(Chw.active == active)
    if q:
        # A number is found whole (by its blind index), never by a few of its digits.
        e164 = phones.search_number(q)
        stmt = stmt.join(Phone, col(Phone.id) == col(Chw.phone_id)).where(
            names.matching(NameKind.CHW, q, Chw.id) | (has_number(e164) if e164 else false())
        )
    return paginate(db, stmt, page, lambda chw: _out(db, chw))


@router.get(
    "/chws/{chw_id}", response_model=None, responses={200: {"model": ChwOut}, **ERRORS, **NOT_FOUND}
)
def get_chw(chw_id: int, user: Viewer, db: SessionDep) -> Any:
    """One CHW (never her PIN)."""
    return _out(db, _get(db, chw_id, user)).model_dump(mode="json")


@router.post(
    "/chws", status_code=201, response_model=None, responses={201: {"model": ChwOut}, **ERRORS}
)
def create_chw(body: ChwIn, user: Manager, request: Request, db: SessionDep) -> Any:
    """Register a CHW (manager)."""
    with domain_errors():
        chw = service.add(
            db,
            name=body.name,
            phone=body.phone,
            pin=body.pin,
            site_ids=scopes.assignable_sites(db, user=user, wanted=body.site_ids),
            language=body.language,
            facility_id=body.facility_id,
        )
    audit.record(
        db,
        action="chw.create",
        user=user,
        object_type="chw",
        object_id=chw.id,
        ip=client_ip(request),
    )
    return _out(db, chw).model_dump(mode="json")


@router.patch(
    "/chws/{chw_id}", response_model=None, responses={200: {"model": ChwOut}, **ERRORS, **NOT_FOUND}
)
def update_chw(chw_id: int, body: ChwPatch, user: Manager, request: Request, db: SessionDep) -> Any:
    """Correct a CHW's name, language, facility or sites (manager)."""
    chw = _get(db, chw_id, user)
    changes = body.model_dump(exclude_unset=True)
    with domain_errors():
        if changes.get("site_ids") is not None:
            assert chw.id is not None
            changes["site_ids"] = scopes.assignable_sites(
                db,
                user=user,
                wanted=changes["site_ids"],
                current=service.site_ids(db, chw_id=chw.id),
            )
        service.update(db, chw=chw, **changes)
    audit.record(
        db,
        action="chw.update",
        user=user,
        object_type="chw",
        object_id=chw.id,
        detail={"fields": sorted(changes)},
        ip=client_ip(request),
    )
    return _out(db, chw).model_dump(mode="json")


@router.post(
    "/chws/{chw_id}/deactivate",
    response_model=None,
    responses={200: {"model": ChwOut}, **ERRORS, **NOT_FOUND},
)
def deactivate_chw(chw_id: int, user: Manager, request: Request, db: SessionDep) -> Any:
    """Deactivate a CHW (manager)."""
    chw = _get(db, chw_id, user)
    service.deactivate(db, chw=chw)
    audit.record(
        db,
        action="chw.deactivate",
        user=user,
        object_type="chw",
        object_id=chw.id,
        ip=client_ip(request),
    )
    return _out(db, chw).model_dump(mode="json")


@router.post(
    "/chws/{chw_id}/reset-pin",
    response_model=None,
    responses={200: {"model": ChwOut}, **ERRORS, **NOT_FOUND},
)
def reset_pin(chw_id: int, body: PinIn, user: Manager, request: Request, db: SessionDep) -> Any:
    """Set a new PIN and lift a lockout (manager). The PIN is never logged."""
    chw = _get(db, chw_id, user)
    with domain_errors():
        service.reset_pin(db, chw=chw, pin=body.pin)
    audit.record(
        db,
        action="chw.reset_pin",
        user=user,
        object_type="chw",
        object_id=chw.id,
        ip=client_ip(request),
    )
    return _out(db, chw).model_dump(mode="json")
