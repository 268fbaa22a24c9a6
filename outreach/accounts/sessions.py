"""Console sessions: server-side, in Redis, behind an HttpOnly cookie, with a CSRF token.

The cookie (`outreach_session`) holds a random 256-bit id; Redis holds, under a
digest of that id, the user id and the session's CSRF token. Each request renews
the expiry (`OUTREACH_SESSION_TTL_SECONDS` of idle time). A deactivated user's
sessions stop working at once, because every request reloads the user.

For the console:

- `start_session(response, user=)` after a good password (it replaces any session the
  browser had, so a session id planted before login is useless);
- `end_session(request, response)` to log out;
- `ConsoleUser` (or `Depends(console_user)`) on every page: the `StaffUser`, or
  `LoginRequired`, which the console turns into a redirect to `/console/login`;
- `Depends(console_role(Role.manager))` for pages reserved to a role (403 below it);
- `csrf_token(request)` to put in forms (`<input name="csrf_token">`) or in an
  `X-CSRF-Token` header (HTMX: `hx-headers`);
- `Depends(csrf_protect)` on routes that change something: POST, PUT, PATCH and
  DELETE without the session's token get a 403.
- `end_user_sessions(user_id)` after a password change or a deactivation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, status

from outreach.accounts.models import Role, StaffUser
from outreach.config import get_settings
from outreach.db import SessionDep
from outreach.redis import get_redis

COOKIE_NAME = "outreach_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_KEY = "outreach:console:session:"
_USER_KEY = "outreach:console:user-sessions:"
_STATE = "console_session"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """No valid console session: the console answers with a redirect to its login page."""

    def __init__(self, next_path: str = "/console/") -> None:
        super().__init__("connexion requise")
        self.next_path = next_path


def _key(session_id: str) -> str:
    # A Redis dump alone must not yield cookies that work.
    return _KEY + hashlib.sha256(session_id.encode()).hexdigest()


def _ttl() -> int:
    return get_settings().session_ttl_seconds


def _secure_cookie() -> bool:
    return get_settings().env not in ("development", "test")


def start_session(response: Response, *, user: StaffUser, request: Request | None = None) -> str:
    """Open a session for `user` and set its cookie; returns the new session id."""
    assert user.id is not None
    if request is not None:
        _drop(request.cookies.get(COOKIE_NAME))
    session_id = secrets.token_urlsafe(32)
    data = {"user_id": user.id, "csrf": secrets.token_urlsafe(32)}
    redis = get_redis()
    pipe = redis.pipeline()
    pipe.set(_key(session_id), json.dumps(data), ex=_ttl())
    pipe.sadd(_USER_KEY + str(user.id), _key(session_id))
    pipe.expire(_USER_KEY + str(user.id), _ttl())
    pipe.execute()
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=_ttl(),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure_cookie(),
    )
    if request is not None:
        request.state.console_session = data
    return session_id


def _drop(session_id: str | None) -> None:
    if session_id:
        get_redis().delete(_key(session_id))


def end_session(request: Request, response: Response) -> None:
    """Forget the browser's session and clear its cookie."""
    _drop(request.cookies.get(COOKIE_NAME))
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=_secure_cookie()
    )


def end_user_sessions(user_id: int) -> None:
    """End every console session of a user (password changed, account deactivated)."""
    redis = get_redis()
    keys = [
        k.decode() if isinstance(k, bytes) else k for k in redis.smembers(_USER_KEY + str(user_id))
    ]
    redis.delete(*keys, _USER_KEY + str(user_id))


def _load(request: Request) -> dict[str, Any] | None:
    cached = getattr(request.state, _STATE, None)
    if cached is not None:
        return dict(cached)
    session_id = request.cookies.get(COOKIE_NAME)
    if not session_id:
        return None
    key = _key(session_id)
    redis = get_redis()
    pipe = redis.pipeline()
    pipe.get(key)
    pipe.expire(key, _ttl())  # sliding idle expiry
    raw, _ = pipe.execute()
    if raw is None:
        return None
    data: dict[str, Any] = json.loads(raw)
    setattr(request.state, _STATE, data)
    return data


def _next_path(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def console_user(request: Request, db: SessionDep) -> StaffUser:
    """The signed-in, active staff user of this browser, or `LoginRequired`."""
    data = _load(request)
    user = db.get(StaffUser, data["user_id"]) if data else None
    if user is None or not user.active:
        raise LoginRequired(_next_path(request))
    return user


ConsoleUser = Annotated[StaffUser, Depends(console_user)]


def console_role(role: Role) -> Callable[[StaffUser], StaffUser]:
    """A dependency refusing (403) signed-in users below `role`."""

    def check(user: ConsoleUser) -> StaffUser:
        if not user.role_enum.allows(role):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"action réservée au rôle {role.value} ou supérieur",
            )
        return user

    return check


def csrf_token(request: Request) -> str:
    """The session's CSRF token, to embed in forms and HTMX headers."""
    data = _load(request)
    if data is None:
        raise LoginRequired(_next_path(request))
    return str(data["csrf"])


async def csrf_protect(request: Request) -> None:
    """Refuse (403) a state-changing request that does not carry the session's CSRF token."""
    if request.method not in _UNSAFE_METHODS:
        return
    data = _load(request)
    if data is None:
        raise LoginRequired(_next_path(request))
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        # Starlette caches the parsed form: the endpoint's Form() parameters still work.
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), str(data["csrf"]).encode()):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="jeton de sécurité (CSRF) manquant ou invalide: rechargez la page",
        )
