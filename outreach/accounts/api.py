"""`/api/v1/auth`: bearer tokens for scripts and tools."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from outreach.accounts import service
from outreach.accounts.deps import CurrentUser, bearer_token
from outreach.accounts.models import Role, StaffUser
from outreach.api_common import ERRORS, ErrorOut, client_ip
from outreach.audit import service as audit
from outreach.config import get_settings
from outreach.db import SessionDep
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
