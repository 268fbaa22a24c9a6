"""`/api/v1/beneficiaries`: all staff read; officers register, correct, pause, opt out, transfer."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import exists, func, or_
from sqlmodel import Session, col, select

from messages.schedule import anchor_for_week
from outreach.accounts import scopes
from outreach.accounts.deps import Officer, Viewer
from outreach.api_common import (
    ERRORS,
    NOT_FOUND,
    Page,
    PageDep,
    client_ip,
    domain_errors,
    invalid,
    not_found,
    paginate,
)
from outreach.audit import service as audit
from outreach.chws.models import Chw
from outreach.db import SessionDep, unit_of_work
from outreach.programmes import service as programmes_service
from outreach.programmes.models import Enrollment, EnrollmentStatus, Programme
from outreach.registry import names, phones, service
from outreach.registry.models import (
    Beneficiary,
    BeneficiaryStatus,
    Child,
    Consent,
    ConsentChannel,
    NameKind,
    Phone,
    PhoneKind,
    has_number,
)
from outreach.sites import service as site_service
from outreach.sites.models import Site
from outreach.timeutil import local_today

router = APIRouter(tags=["beneficiaries"])

Language = Literal["fr", "bm"]
# Rows read per query while a CSV export streams.
EXPORT_CHUNK = 2_000


class BeneficiaryOut(BaseModel):
    id: int
    code: str
    name: str
    phone: str | None
    phone_kind: str
    chw_id: int | None
    village_id: int | None
    language: str
    displaced: bool
    status: str
    created_at: datetime


class ChildOut(BaseModel):
    id: int
    name: str | None
    sex: str | None
    birth_date: date


class EnrollmentOut(BaseModel):
    id: int
    programme: str
    anchor_date: date
    status: str
    start_date: date
    child_id: int | None


class ConsentOut(BaseModel):
    granted: bool
    channel: str
    text_key: str
    text_version: int
    language: str
    chw_id: int | None
    recorded_at: datetime


class TransferOut(BaseModel):
    from_chw_id: int | None
    to_chw_id: int
    from_village_id: int | None
    to_village_id: int | None
    moved_at: datetime


class BeneficiaryDetail(BeneficiaryOut):
    children: list[ChildOut]
    enrollments: list[EnrollmentOut]
    consents: list[ConsentOut]
    transfers: list[TransferOut]


class BeneficiaryIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    phone: str | None = Field(default=None, max_length=20)
    phone_kind: Literal["own", "shared"] = "own"
    language: Language = "fr"
    village_id: int | None = None
    chw_id: int | None = None
    displaced: bool = False
    programme: Programme
    weeks: int | None = Field(default=None, ge=1, le=42, description="semaines de grossesse")
    edd: date | None = Field(default=None, description="date prévue d'accouchement")
    birth_date: date | None = Field(default=None, description="naissance de l'enfant")
    sex: Literal["F", "M"] | None = None
    consent_text_key: str = Field(default="staff_consent", max_length=60)
    consent_text_version: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _stage(self) -> BeneficiaryIn:
        if self.programme == Programme.PREGNANCY and self.weeks is None and self.edd is None:
            raise ValueError("grossesse: indiquez weeks ou edd")
        if self.programme == Programme.INFANT and self.birth_date is None:
            raise ValueError("nourrisson: indiquez birth_date")
        return self


class BeneficiaryPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    language: Language | None = None
    displaced: bool | None = None
    village_id: int | None = None
    phone: str | None = Field(default=None, max_length=20)


class TransferIn(BaseModel):
    to_chw_id: int
    to_village_id: int | None = None


class ActionOut(BaseModel):
    id: int
    status: str
    changed: int


def _phone(db: Session, phone_id: int | None) -> str | None:
    phone = db.get(Phone, phone_id) if phone_id is not None else None
    return phone.e164 if phone else None


def _out(db: Session, row: Beneficiary) -> BeneficiaryOut:
    return BeneficiaryOut.model_validate({**row.model_dump(), "phone": _phone(db, row.phone_id)})


def _get(db: Session, beneficiary_id: int, user: Any) -> Beneficiary:
    row = db.get(Beneficiary, beneficiary_id)
    # Outside the user's sites reads exactly as missing: her existence is not revealed.
    if row is None or not scopes.sees(db, user=user, beneficiary=row):
        raise not_found("bénéficiaire")
    return row


def _check_place(db: Session, user: Any, village_id: int | None) -> None:
    scope = scopes.villages(db, user=user)
    if village_id is not None and not scopes.sees_village(scope, village_id):
        raise invalid(f"lieu {village_id} hors de vos sites")
    if village_id is None and scope is not None:
        raise invalid("indiquez un village de vos sites (village_id)")


def _filtered(
    db: Session,
    *,
    site_id: int | None,
    programme: Programme | None,
    stage_from: int | None,
    stage_to: int | None,
    language: str | None,
    displaced: bool | None,
    status: str | None,
    consented: bool | None,
    q: str | None,
    scope: frozenset[int] | None = None,
) -> Any:
    stmt = select(Beneficiary).order_by(col(Beneficiary.id))
    in_scope = scopes.village_condition(Beneficiary.village_id, scope)
    if in_scope is not None:
        stmt = stmt.where(in_scope)
    if site_id is not None:
        site = db.get(Site, site_id)
        villages = (
            [site_id]
            if site is None
            else [v.id for v in site_service.villages_under(db, site_id=site_id)] + [site_id]
        )
        stmt = stmt.where(col(Beneficiary.village_id).in_(villages))
    if programme is not None:
        conditions = [
            col(Enrollment.beneficiary_id) == col(Beneficiary.id),
            col(Enrollment.programme) == programme.value,
            col(Enrollment.status).in_([EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]),
        ]
        # Week W today means an anchor (EDD or birth) from anchor_for_week(W) - 6 days
        # to anchor_for_week(W): anchors fall as the stage rises, for both programmes.
        today = local_today()
        if stage_from is not None:
            latest = anchor_for_week(programme.value, week=stage_from, day=today)
            conditions.append(col(Enrollment.anchor_date) <= latest)
        if stage_to is not None:
            earliest = anchor_for_week(programme.value, week=stage_to, day=today)
            conditions.append(col(Enrollment.anchor_date) >= earliest - timedelta(days=6))
        stmt = stmt.where(exists().where(*conditions))
    if language is not None:
        stmt = stmt.where(Beneficiary.language == language)
    if displaced is not None:
        stmt = stmt.where(Beneficiary.displaced == displaced)
    if status is not None:
        stmt = stmt.where(Beneficiary.status == status)
    if consented is not None:
        agreed = exists().where(
            col(Consent.beneficiary_id) == col(Beneficiary.id), col(Consent.granted).is_(True)
        )
        condition = agreed & (col(Beneficiary.status) != BeneficiaryStatus.OPTED_OUT)
        stmt = stmt.where(condition if consented else ~condition)
    if q:
        term = q.strip()
        matches = [
            col(Beneficiary.code) == term.upper(),
            names.matching(NameKind.BENEFICIARY, term, Beneficiary.id),
        ]
        # Numbers are encrypted: only a whole number is found, by its blind index.
        e164 = phones.search_number(term)
        if e164:
            matches.append(col(Beneficiary.phone_id).in_(select(Phone.id).where(has_number(e164))))
        stmt = stmt.where(or_(*matches))
    return stmt


Filters = dict[str, Any]


def _filters(
    site_id: int | None = None,
    programme: Programme | None = None,
    stage_from: Annotated[
        int | None,
        Query(ge=0, le=200, description="semaine de grossesse, ou âge du nourrisson en semaines"),
    ] = None,
    stage_to: Annotated[
        int | None, Query(ge=0, le=200, description="jusqu'à cette semaine incluse")
    ] = None,
    language: Language | None = None,
    displaced: bool | None = None,
    status: BeneficiaryStatus | None = None,
    consented: Annotated[
        bool | None, Query(description="a donné son accord et ne s'est pas retirée")
    ] = None,
    q: Annotated[str | None, Query(max_length=120, description="code, numéro ou nom")] = None,
) -> Filters:
    if (stage_from is not None or stage_to is not None) and programme is None:
        raise invalid("un stade (stage_from, stage_to) se donne avec un programme")
    if stage_from is not None and stage_to is not None and stage_from > stage_to:
        raise invalid("stage_from doit être inférieur ou égal à stage_to")
    return {
        "site_id": site_id,
        "programme": programme,
        "stage_from": stage_from,
        "stage_to": stage_to,
        "language": language,
        "displaced": displaced,
        "status": status.value if status else None,
        "consented": consented,
        "q": q,
    }


FiltersDep = Annotated[Filters, Depends(_filters)]


@router.get(
    "/beneficiaries",
    response_model=None,
    responses={200: {"model": Page[BeneficiaryOut]}, **ERRORS},
)
def list_beneficiaries(user: Viewer, db: SessionDep, page: PageDep, filters: FiltersDep) -> Any:
    """Beneficiaries by site, programme and stage, language, displacement, status or search."""
    scope = scopes.villages(db, user=user)
    return paginate(db, _filtered(db, **filters, scope=scope), page, lambda row: _out(db, row))


@router.get(
    "/beneficiaries/export.csv",
    response_model=None,
    responses={200: {"content": {"text/csv": {}}}, **ERRORS},
)
def export_beneficiaries(
    user: Viewer, request: Request, db: SessionDep, filters: FiltersDep
) -> Any:
    """The filtered list as CSV, streamed whatever its length (audited)."""
    stmt = _filtered(db, **filters, scope=scopes.villages(db, user=user))
    total = db.exec(select(func.count()).select_from(stmt.order_by(None).subquery())).one()
    audit.record(
        db,
        action="beneficiary.export",
        user=user,
        object_type="beneficiary",
        detail={
            "rows": int(total),
            # A search may be a name or a number: the log says one was made, not what.
            "filters": {
                k: "***" if k == "q" else str(v) for k, v in filters.items() if v is not None
            },
        },
        ip=client_ip(request),
    )
    return StreamingResponse(
        _csv_lines({**filters, "scope": scopes.villages(db, user=user)}),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="beneficiaires.csv"'},
    )


def _csv_lines(filters: Filters) -> Iterator[str]:
    # Runs after the request's session has committed: a session of its own reads the
    # rows by id, a chunk at a time, so memory stays flat for any number of women.
    columns = list(BeneficiaryOut.model_fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    last_id = 0
    with unit_of_work() as session:
        # Built once: a site filter walks the site tree, which no chunk needs to redo.
        matching = _filtered(session, **filters)
        while True:
            chunk = session.exec(
                matching.where(col(Beneficiary.id) > last_id).limit(EXPORT_CHUNK)
            ).all()
            phone_ids = {row.phone_id for row in chunk if row.phone_id is not None}
            numbers: dict[int | None, str] = {}
            if phone_ids:
                found = select(Phone.id, Phone.e164).where(col(Phone.id).in_(phone_ids))
                numbers.update(session.exec(found).all())
            for row in chunk:
                data = BeneficiaryOut.model_validate(
                    {**row.model_dump(), "phone": numbers.get(row.phone_id)}
                ).model_dump(mode="json")
                writer.writerow([data[c] for c in columns])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(chunk) < EXPORT_CHUNK:
                return
            last_id = chunk[-1].id
            # Nothing to keep between chunks: the identity map would grow with the file.
            session.expunge_all()


def _detail(db: Session, row: Beneficiary) -> dict[str, Any]:
    assert row.id is not None
    children = db.exec(select(Child).where(Child.mother_id == row.id).order_by(col(Child.id)))
    enrollments = db.exec(
        select(Enrollment).where(Enrollment.beneficiary_id == row.id).order_by(col(Enrollment.id))
    )
    detail = BeneficiaryDetail(
        **_out(db, row).model_dump(),
        children=[ChildOut.model_validate(c, from_attributes=True) for c in children],
        enrollments=[EnrollmentOut.model_validate(e, from_attributes=True) for e in enrollments],
        consents=[
            ConsentOut.model_validate(c, from_attributes=True)
            for c in service.consent_history(db, beneficiary_id=row.id)
        ],
        transfers=[
            TransferOut.model_validate(t, from_attributes=True)
            for t in service.transfers_of(db, beneficiary_id=row.id)
        ],
    )
    return detail.model_dump(mode="json")


@router.get(
    "/beneficiaries/{beneficiary_id}",
    response_model=None,
    responses={200: {"model": BeneficiaryDetail}, **ERRORS, **NOT_FOUND},
)
def get_beneficiary(beneficiary_id: int, user: Viewer, db: SessionDep) -> Any:
    """One beneficiary with her children, enrollments, consent history and transfers."""
    return _detail(db, _get(db, beneficiary_id, user))


def _record(
    db: Session, request: Request, user: Any, action: str, row: Beneficiary, **detail: Any
) -> None:
    audit.record(
        db,
        action=action,
        user=user,
        object_type="beneficiary",
        object_id=row.id,
        detail=detail,
        ip=client_ip(request),
    )


@router.post(
    "/beneficiaries",
    status_code=201,
    response_model=None,
    responses={201: {"model": BeneficiaryDetail}, **ERRORS},
)
def create_beneficiary(body: BeneficiaryIn, user: Officer, request: Request, db: SessionDep) -> Any:
    """Register a pregnant woman or a mother with her infant (officer); consent as told to staff."""
    if body.chw_id is not None and db.get(Chw, body.chw_id) is None:
        raise invalid(f"agent {body.chw_id} inconnu")
    if body.village_id is not None and db.get(Site, body.village_id) is None:
        raise invalid(f"lieu {body.village_id} inconnu")
    _check_place(db, user, body.village_id)
    consent = service.ConsentInfo(
        text_key=body.consent_text_key,
        text_version=body.consent_text_version,
        language=body.language,
        channel=ConsentChannel.STAFF,
    )
    common: dict[str, Any] = {
        "name": body.name,
        "phone": body.phone,
        "chw_id": body.chw_id,
        "language": body.language,
        "village_id": body.village_id,
        "displaced": body.displaced,
        "phone_kind": PhoneKind(body.phone_kind),
        "consent": consent,
    }
    with domain_errors():
        if body.programme == Programme.PREGNANCY:
            reg = service.register_pregnancy(db, weeks=body.weeks, edd=body.edd, **common)
        else:
            assert body.birth_date is not None
            reg = service.register_mother_with_infant(
                db, birth_date=body.birth_date, sex=body.sex, **common
            )
    _record(
        db, request, user, "beneficiary.create", reg.beneficiary, programme=body.programme.value
    )
    return _detail(db, reg.beneficiary)


@router.patch(
    "/beneficiaries/{beneficiary_id}",
    response_model=None,
    responses={200: {"model": BeneficiaryDetail}, **ERRORS, **NOT_FOUND},
)
def correct_beneficiary(
    beneficiary_id: int, body: BeneficiaryPatch, user: Officer, request: Request, db: SessionDep
) -> Any:
    """Correct her name, language, displacement, village or phone (officer)."""
    row = _get(db, beneficiary_id, user)
    if body.village_id is not None and db.get(Site, body.village_id) is None:
        raise invalid(f"lieu {body.village_id} inconnu")
    if body.village_id is not None:
        _check_place(db, user, body.village_id)
    with domain_errors():
        changed = service.correct(db, beneficiary=row, **body.model_dump(exclude_unset=True))
    # The field names only: never the old or new phone or name.
    _record(db, request, user, "beneficiary.update", row, fields=changed)
    return _detail(db, row)


def _action(row: Beneficiary, changed: int) -> dict[str, Any]:
    assert row.id is not None
    return ActionOut(id=row.id, status=row.status, changed=changed).model_dump(mode="json")


@router.post(
    "/beneficiaries/{beneficiary_id}/pause",
    response_model=None,
    responses={200: {"model": ActionOut}, **ERRORS, **NOT_FOUND},
)
def pause(beneficiary_id: int, user: Officer, request: Request, db: SessionDep) -> Any:
    """Hold her programme messages (officer)."""
    row = _get(db, beneficiary_id, user)
    count = programmes_service.pause(db, beneficiary_id=beneficiary_id)
    _record(db, request, user, "beneficiary.pause", row, enrollments=count)
    return _action(row, count)


@router.post(
    "/beneficiaries/{beneficiary_id}/resume",
    response_model=None,
    responses={200: {"model": ActionOut}, **ERRORS, **NOT_FOUND},
)
def resume(beneficiary_id: int, user: Officer, request: Request, db: SessionDep) -> Any:
    """Restart her paused programmes at her current stage (officer)."""
    row = _get(db, beneficiary_id, user)
    count = programmes_service.resume(db, beneficiary_id=beneficiary_id)
    _record(db, request, user, "beneficiary.resume", row, enrollments=count)
    return _action(row, count)


@router.post(
    "/beneficiaries/{beneficiary_id}/opt-out",
    response_model=None,
    responses={200: {"model": ActionOut}, **ERRORS, **NOT_FOUND},
)
def opt_out(beneficiary_id: int, user: Officer, request: Request, db: SessionDep) -> Any:
    """Stop her messages at her request, told to staff (officer); logged as a withdrawal."""
    row = _get(db, beneficiary_id, user)
    if row.status == BeneficiaryStatus.OPTED_OUT:
        return _action(row, 0)
    withdrawal = service.ConsentInfo(
        text_key="staff_optout",
        text_version=1,
        language=row.language,
        channel=ConsentChannel.STAFF,
        granted=False,
    )
    service.opt_out_beneficiary(
        db, beneficiary_id=beneficiary_id, withdrawal=withdrawal, reason="staff_optout"
    )
    programmes_service.pause(db, beneficiary_id=beneficiary_id)
    _record(db, request, user, "beneficiary.opt_out", row)
    return _action(row, 1)


@router.post(
    "/beneficiaries/{beneficiary_id}/transfer",
    response_model=None,
    responses={200: {"model": BeneficiaryDetail}, **ERRORS, **NOT_FOUND},
)
def transfer(
    beneficiary_id: int, body: TransferIn, user: Officer, request: Request, db: SessionDep
) -> Any:
    """Hand her over to another CHW, and village if she moved (officer)."""
    row = _get(db, beneficiary_id, user)
    chw = db.get(Chw, body.to_chw_id)
    if chw is None or not chw.active:
        raise invalid(f"agent {body.to_chw_id} inconnu ou désactivé")
    if body.to_village_id is not None and db.get(Site, body.to_village_id) is None:
        raise invalid(f"lieu {body.to_village_id} inconnu")
    if body.to_village_id is not None:
        _check_place(db, user, body.to_village_id)
    with domain_errors():
        service.transfer(
            db,
            beneficiary_id=beneficiary_id,
            to_chw_id=body.to_chw_id,
            to_village_id=body.to_village_id,
        )
    _record(db, request, user, "beneficiary.transfer", row, to_chw_id=body.to_chw_id)
    return _detail(db, row)
