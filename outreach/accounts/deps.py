"""Who is calling: the dependencies every staff route uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from outreach.accounts import service
from outreach.accounts.models import Role, StaffUser
from outreach.db import SessionDep


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_user(request: Request, db: SessionDep) -> StaffUser:
    """The staff user behind the request's bearer token (401 otherwise)."""
    token = bearer_token(request)
    user = service.user_for_token(db, token=token) if token else None
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="authentification requise",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[StaffUser, Depends(current_user)]


def require_role(role: Role) -> Callable[[StaffUser], StaffUser]:
    """A dependency refusing (403) users below `role`."""

    def check(user: CurrentUser) -> StaffUser:
        if not user.role_enum.allows(role):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"action réservée au rôle {role.value} ou supérieur",
            )
        return user

    return check


Viewer = Annotated[StaffUser, Depends(require_role(Role.viewer))]
Officer = Annotated[StaffUser, Depends(require_role(Role.officer))]
Manager = Annotated[StaffUser, Depends(require_role(Role.manager))]
Admin = Annotated[StaffUser, Depends(require_role(Role.admin))]


def staff_user(request: Request, db: SessionDep) -> StaffUser:
    """A bearer token or a console session: for pages a browser opens, like the API docs."""
    from outreach.accounts import sessions

    if bearer_token(request):
        return current_user(request, db)
    try:
        return sessions.console_user(request, db)
    except sessions.LoginRequired:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="authentification requise (jeton d'API ou session de la console)",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


StaffUserDep = Annotated[StaffUser, Depends(staff_user)]
