"""`/api/v1/sites` and `/api/v1/facilities`: read for all staff, written by managers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import col, select

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
from outreach.db import SessionDep
from outreach.sites import service
from outreach.sites.models import Facility, Site, SiteLevel

router = APIRouter(tags=["sites"])


class SiteOut(BaseModel):
    id: int
    name: str
    level: SiteLevel
    parent_id: int | None


class SiteIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    level: SiteLevel
    parent_id: int | None = None


class SitePatch(BaseModel):
    name: str = Field(min_length=1, max_length=120)


class FacilityOut(BaseModel):
    id: int
    name: str
    kind: str
    site_id: int


class FacilityIn(BaseModel):
    name: str = Field(min_length=1, max_length=160)
    kind: str = Field(default="cscom", max_length=20)
    site_id: int


def _site(row: Site) -> SiteOut:
    return SiteOut.model_validate(row, from_attributes=True)


def _facility(row: Facility) -> FacilityOut:
    return FacilityOut.model_validate(row, from_attributes=True)


@router.get("/sites", response_model=None, responses={200: {"model": Page[SiteOut]}, **ERRORS})
def list_sites(
    _user: Viewer,
    db: SessionDep,
    page: PageDep,
    level: SiteLevel | None = None,
    parent_id: int | None = None,
    q: Annotated[str | None, Query(max_length=120, description="nom contenant")] = None,
) -> Any:
    """Places, filtered by level, parent or name."""
    stmt = select(Site).order_by(col(Site.name), col(Site.id))
    if level is not None:
        stmt = stmt.where(Site.level == level)
    if parent_id is not None:
        stmt = stmt.where(Site.parent_id == parent_id)
    if q:
        stmt = stmt.where(col(Site.name).ilike(f"%{q}%"))
    return paginate(db, stmt, page, _site)


@router.get(
    "/sites/{site_id}",
    response_model=None,
    responses={200: {"model": SiteOut}, **ERRORS, **NOT_FOUND},
)
def get_site(site_id: int, _user: Viewer, db: SessionDep) -> Any:
    """One place."""
    row = db.get(Site, site_id)
    if row is None:
        raise not_found("lieu")
    return _site(row).model_dump(mode="json")


@router.post(
    "/sites", status_code=201, response_model=None, responses={201: {"model": SiteOut}, **ERRORS}
)
def create_site(body: SiteIn, user: Manager, request: Request, db: SessionDep) -> Any:
    """Add a place (manager)."""
    with domain_errors():
        row = service.create_site(db, name=body.name, level=body.level, parent_id=body.parent_id)
    audit.record(
        db,
        action="site.create",
        user=user,
        object_type="site",
        object_id=row.id,
        detail={"level": row.level},
        ip=client_ip(request),
    )
    return _site(row).model_dump(mode="json")


@router.patch(
    "/sites/{site_id}",
    response_model=None,
    responses={200: {"model": SiteOut}, **ERRORS, **NOT_FOUND},
)
def update_site(
    site_id: int, body: SitePatch, user: Manager, request: Request, db: SessionDep
) -> Any:
    """Correct a place's name (manager)."""
    row = db.get(Site, site_id)
    if row is None:
        raise not_found("lieu")
    with domain_errors():
        service.rename_site(db, site=row, name=body.name)
    audit.record(
        db,
        action="site.update",
        user=user,
        object_type="site",
        object_id=row.id,
        ip=client_ip(request),
    )
    return _site(row).model_dump(mode="json")


@router.get(
    "/facilities", response_model=None, responses={200: {"model": Page[FacilityOut]}, **ERRORS}
)
def list_facilities(
    _user: Viewer, db: SessionDep, page: PageDep, site_id: int | None = None
) -> Any:
    """Health facilities, optionally in one place."""
    stmt = select(Facility).order_by(col(Facility.name), col(Facility.id))
    if site_id is not None:
        stmt = stmt.where(Facility.site_id == site_id)
    return paginate(db, stmt, page, _facility)


@router.get(
    "/facilities/{facility_id}",
    response_model=None,
    responses={200: {"model": FacilityOut}, **ERRORS, **NOT_FOUND},
)
def get_facility(facility_id: int, _user: Viewer, db: SessionDep) -> Any:
    """One health facility."""
    row = db.get(Facility, facility_id)
    if row is None:
        raise not_found("structure de santé")
    return _facility(row).model_dump(mode="json")


@router.post(
    "/facilities",
    status_code=201,
    response_model=None,
    responses={201: {"model": FacilityOut}, **ERRORS},
)
def create_facility(body: FacilityIn, user: Manager, request: Request, db: SessionDep) -> Any:
    """Add a health facility (manager)."""
    with domain_errors():
        row = service.create_facility(db, name=body.name, kind=body.kind, site_id=body.site_id)
    audit.record(
        db,
        action="facility.create",
        user=user,
        object_type="facility",
        object_id=row.id,
        ip=client_ip(request),
    )
    return _facility(row).model_dump(mode="json")
