"""`/api/v1/auth`: bearer tokens for scripts and tools."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from outreach.accounts import scopes, service, sessions
from outreach.accounts.deps import Admin, CurrentUser, bearer_token
from outreach.accounts.models import Role, StaffUser
from outreach.api_common import (
    ERRORS,
    NOT_FOUND,
    ErrorOut,
    Page,
    PageDep,
    client_ip,
    domain_errors,
    invalid,
    not_found,
    paginate,
)
from outreach.audit import service as audit
from outreach.audit.models import AuditEntry
from outreach.config import get_settings
from outreach.db import SessionDep, after_commit
from outreach.timeutil import utcnow

router = APIRouter()


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_at: datetime


@router.post(
    "/auth/token",
    tags=["auth"],
    response_model=None,
    responses={
        200: {"model": TokenOut},
        401: {"model": ErrorOut, "description": "e-mail ou mot de passe incorrect"},
        429: {"model": ErrorOut, "description": "trop de tentatives (en-tête Retry-After)"},
        422: ERRORS[422],
    },
)
def token(body: LoginIn, request: Request, db: SessionDep) -> Any:
    """Exchange an email and password for a bearer token (rate-limited, audited)."""
    outcome = service.login(db, email=body.email, password=body.password, ip=client_ip(request))
    # A refusal is answered, not raised, so its audit entry commits.
    if outcome.retry_after is not None:
        return JSONResponse(
            {"detail": outcome.message},
            status_code=429,
            headers={"Retry-After": str(outcome.retry_after)},
        )
    if outcome.user is None:
        return JSONResponse(
            {"detail": outcome.message}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    ttl = timedelta(seconds=get_settings().api_token_ttl_seconds)
    plain = service.issue_token(db, user=outcome.user, name="api-login", ttl=ttl)
    return TokenOut(access_token=plain, expires_at=utcnow() + ttl).model_dump(mode="json")


@router.post(
    "/auth/logout",
    tags=["auth"],
    status_code=204,
    response_model=None,
    responses={401: ERRORS[401]},
)
def logout(user: CurrentUser, request: Request, db: SessionDep) -> None:
    """Revoke the token this request presents."""
    service.revoke_token(db, token=bearer_token(request) or "")
    audit.record(db, action="auth.logout", user=user, ip=client_ip(request))


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    language: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: StaffUser) -> UserOut:
        return cls.model_validate(user, from_attributes=True)


@router.get(
    "/users/me", tags=["users"], response_model=None, responses={200: {"model": UserOut}, **ERRORS}
)
def me(user: CurrentUser) -> Any:
    """The account behind the token."""
    return UserOut.of(user).model_dump(mode="json")


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=120)
    role: Role
    password: str = Field(min_length=1, max_length=256)
    language: Literal["fr", "en"] = "fr"


class UserPatch(BaseModel):
    role: Role


class AuditOut(BaseModel):
    id: int
    at: datetime
    user_id: int | None
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    detail: dict[str, Any]
    ip: str | None


def _user(db: Session, user_id: int) -> StaffUser:
    user = service.get_user(db, user_id=user_id)
    if user is None:
        raise not_found("compte")
    return user


@router.get(
    "/users",
    tags=["users"],
    response_model=None,
    responses={200: {"model": Page[UserOut]}, **ERRORS},
)
def list_users(
    _admin: Admin,
    db: SessionDep,
    page: PageDep,
    role: Role | None = None,
    active: bool | None = None,
) -> Any:
    """Staff accounts (admin)."""
    stmt = select(StaffUser).order_by(col(StaffUser.email))
    if role is not None:
        stmt = stmt.where(StaffUser.role == role.value)
    if active is not None:
        stmt = stmt.where(StaffUser.active == active)
    return paginate(db, stmt, page, UserOut.of)


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    response_model=None,
    responses={201: {"model": UserOut}, **ERRORS},
)
def create_user(body: UserIn, admin: Admin, request: Request, db: SessionDep) -> Any:
    """Create a staff account (admin)."""
    with domain_errors():
        user = service.create_user(
            db,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            language=body.language,
        )
    audit.record(
        db,
        action="user.create",
        user=admin,
        object_type="staff_user",
        object_id=user.id,
        detail={"role": user.role},
        ip=client_ip(request),
    )
    return UserOut.of(user).model_dump(mode="json")


@router.patch(
    "/users/{user_id}",
    tags=["users"],
    response_model=None,
    responses={200: {"model": UserOut}, **ERRORS, **NOT_FOUND},
)
def change_role(
    user_id: int, body: UserPatch, admin: Admin, request: Request, db: SessionDep
) -> Any:
    """Give an account another role (admin); an admin cannot demote themself."""
    user = _user(db, user_id)
    if user.id == admin.id and body.role != Role.admin:
        raise invalid("vous ne pouvez pas retirer votre propre rôle admin")
    before = user.role
    service.set_role(db, user=user, role=body.role)
    audit.record(
        db,
        action="user.role",
        user=admin,
        object_type="staff_user",
        object_id=user.id,
        detail={"from": before, "to": user.role},
        ip=client_ip(request),
    )
    return UserOut.of(user).model_dump(mode="json")


class UserSites(BaseModel):
    # Empty: the account sees every site. A site covers every place under it.
    site_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(max_length=500)


@router.get(
    "/users/{user_id}/sites",
    tags=["users"],
    response_model=None,
    responses={200: {"model": UserSites}, **ERRORS, **NOT_FOUND},
)
def user_sites(user_id: int, _admin: Admin, db: SessionDep) -> Any:
    """The sites an account is limited to (admin); an empty list means every site."""
    user = _user(db, user_id)
    assert user.id is not None
    return {"site_ids": scopes.site_ids(db, user_id=user.id)}


@router.put(
    "/users/{user_id}/sites",
    tags=["users"],
    response_model=None,
    responses={200: {"model": UserSites}, **ERRORS, **NOT_FOUND},
)
def set_user_sites(
    user_id: int, body: UserSites, admin: Admin, request: Request, db: SessionDep
) -> Any:
    """Limit an account to some sites, or lift the limit with an empty list (admin)."""
    user = _user(db, user_id)
    try:
        chosen = scopes.set_sites(db, user=user, site_ids=body.site_ids)
    except ValueError as exc:
        raise invalid(str(exc)) from exc
    audit.record(
        db,
        action="user.sites",
        user=admin,
        object_type="staff_user",
        object_id=user.id,
        detail={"site_ids": chosen},
        ip=client_ip(request),
    )
    return {"site_ids": chosen}


@router.post(
    "/users/{user_id}/deactivate",
    tags=["users"],
    response_model=None,
    responses={200: {"model": UserOut}, **ERRORS, **NOT_FOUND},
)
def deactivate_user(user_id: int, admin: Admin, request: Request, db: SessionDep) -> Any:
    """Deactivate an account (admin): login, tokens and console sessions stop."""
    user = _user(db, user_id)
    if user.id == admin.id:
        raise invalid("vous ne pouvez pas désactiver votre propre compte")
    service.deactivate(db, user=user)
    audit.record(
        db,
        action="user.deactivate",
        user=admin,
        object_type="staff_user",
        object_id=user.id,
        ip=client_ip(request),
    )
    assert user.id is not None
    gone = user.id
    after_commit(db, lambda: sessions.end_user_sessions(gone))
    return UserOut.of(user).model_dump(mode="json")


@router.get(
    "/audit",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": Page[AuditOut]}, **ERRORS},
)
def list_audit(
    _admin: Admin,
    db: SessionDep,
    page: PageDep,
    action: Annotated[
        str | None, Query(max_length=60, description="ex: beneficiary.export")
    ] = None,
    user_id: int | None = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=40)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """The audit log, latest first (admin)."""
    stmt = select(AuditEntry).order_by(col(AuditEntry.id).desc())
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if user_id is not None:
        stmt = stmt.where(AuditEntry.user_id == user_id)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditEntry.at) < until)
    return paginate(db, stmt, page, lambda row: AuditOut.model_validate(row, from_attributes=True))
