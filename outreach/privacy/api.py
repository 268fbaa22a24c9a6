"""`/api/v1/beneficiaries/{code}/export` and `/erase`: her data, to hand over or to forget."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from outreach.accounts import scopes
from outreach.accounts.deps import Admin, Officer
from outreach.api_common import ERRORS, NOT_FOUND, client_ip, not_found
from outreach.db import SessionDep
from outreach.privacy import service
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary

router = APIRouter(tags=["beneficiaries"])


def find(db: Session, ref: str, user: Any) -> Beneficiary:
    """Her record by registration code only: an id that looks like a code is never guessed."""
    row = registry_service.find_by_code(db, code=ref.strip())
    # Outside the user's sites reads exactly as missing.
    if row is None or not scopes.sees(db, user=user, beneficiary=row):
        raise not_found("bénéficiaire")
    return row


def export_response(db: Session, row: Beneficiary, *, user: Any, ip: str) -> JSONResponse:
    """Her document as a download, audited (who, when, which woman; never the content)."""
    document = service.export_audited(db, beneficiary=row, user=user, ip=ip)
    return JSONResponse(
        document,
        headers={"Content-Disposition": f'attachment; filename="beneficiaire-{row.code}.json"'},
    )


@router.get(
    "/beneficiaries/{code}/export",
    response_model=None,
    responses={200: {"content": {"application/json": {}}}, **ERRORS, **NOT_FOUND},
)
def export_one(code: str, user: Officer, request: Request, db: SessionDep) -> Any:
    """Everything held about one woman, as one JSON document (officer; audited)."""
    return export_response(db, find(db, code, user), user=user, ip=client_ip(request))


@router.post(
    "/beneficiaries/{code}/erase",
    response_model=None,
    responses={**ERRORS, **NOT_FOUND},
)
def erase(code: str, user: Admin, request: Request, db: SessionDep) -> Any:
    """Anonymise her for good: name, number, texts; counts and costs stay (admin; audited)."""
    row = find(db, code, user)
    result = service.erase_audited(db, beneficiary=row, user=user, ip=client_ip(request))
    return {"id": row.id, "code": row.code, **result.as_dict()}
