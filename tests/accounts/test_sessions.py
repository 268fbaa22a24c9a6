"""Console sessions: cookie, sliding expiry, roles, CSRF, deactivation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.testclient import TestClient
from sqlmodel import Session

from outreach.accounts import service, sessions
from outreach.accounts.models import Role, StaffUser
from outreach.accounts.sessions import ConsoleUser, LoginRequired
from outreach.db import SessionDep
from outreach.redis import get_redis


def _console_app() -> FastAPI:
    """The smallest console: login, a page, a manager page and a protected form."""
    app = FastAPI()

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return PlainTextResponse(f"login?next={exc.next_path}", status_code=303)

    @app.post("/login", response_model=None)
    def login(request: Request, db: SessionDep, email: str = Form(), password: str = Form()):
        user = service.authenticate(db, email=email, password=password)
        response = JSONResponse({"ok": user is not None})
        if user is not None:
            sessions.start_session(response, user=user, request=request)
        return response

    @app.get("/page", response_model=None)
    def page(user: ConsoleUser, request: Request) -> dict[str, str]:
        return {"email": user.email, "csrf": sessions.csrf_token(request)}

    @app.get("/managers", response_model=None)
    def managers(user: StaffUser = Depends(sessions.console_role(Role.manager))) -> str:
        return user.email

    @app.post("/change", response_model=None, dependencies=[Depends(sessions.csrf_protect)])
    def change(user: ConsoleUser, note: str = Form()) -> dict[str, str]:
        return {"note": note, "by": user.email}

    @app.post("/logout", response_model=None)
    def logout(request: Request) -> Response:
        response = JSONResponse({"ok": True})
        sessions.end_session(request, response)
        return response

    return app


@pytest.fixture
def browser(migrated: None) -> TestClient:
    return TestClient(_console_app(), follow_redirects=False)


def _login(browser: TestClient, email: str) -> dict[str, str]:
    response = browser.post("/login", data={"email": email, "password": "segou-2026"})
    assert response.json() == {"ok": True}
    page = browser.get("/page")
    assert page.status_code == 200, page.text
    return page.json()


def test_login_sets_a_hardened_cookie_and_opens_pages(
    browser: TestClient, make_user: Callable[..., StaffUser]
) -> None:
    # given an officer
    make_user(Role.officer)
    # when she is not logged in, a page asks for the login page
    response = browser.get("/page?tab=2")
    assert response.status_code == 303 and response.text == "login?next=/page?tab=2"
    # when she logs in
    response = browser.post("/login", data={"email": "officer@ong.ml", "password": "segou-2026"})
    # then the cookie is a random 256-bit id, HttpOnly, SameSite=Lax
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    session_id = browser.cookies[sessions.COOKIE_NAME]
    assert len(session_id) >= 43
    # and Redis does not hold the id itself
    assert not any(session_id in k.decode() for k in get_redis().scan_iter("outreach:console:*"))
    assert browser.get("/page").json()["email"] == "officer@ong.ml"


def test_cookie_is_secure_outside_development(
    browser: TestClient, make_user: Callable[..., StaffUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.config import get_settings

    # given a production-like environment
    make_user(Role.officer)
    monkeypatch.setattr(get_settings(), "env", "production")
    # when logging in, then the cookie is only sent over HTTPS
    response = browser.post("/login", data={"email": "officer@ong.ml", "password": "segou-2026"})
    assert "Secure" in response.headers["set-cookie"]


def test_idle_expiry_slides_with_each_request(
    browser: TestClient, make_user: Callable[..., StaffUser]
) -> None:
    # given a logged-in session whose expiry is nearly reached
    make_user(Role.viewer)
    _login(browser, "viewer@ong.ml")
    redis = get_redis()
    (key,) = list(redis.scan_iter("outreach:console:session:*"))
    redis.expire(key, 5)
    # when a page is opened
    browser.get("/page")
    # then the session lives for the full idle time again
    from outreach.config import get_settings

    assert redis.ttl(key) > get_settings().session_ttl_seconds - 10
    # and once the key has expired, the session is gone
    redis.delete(key)
    assert browser.get("/page").status_code == 303


def test_role_pages_refuse_lower_roles(
    browser: TestClient, make_user: Callable[..., StaffUser]
) -> None:
    # given an officer and a manager
    make_user(Role.officer)
    make_user(Role.manager)
    # then the manager page refuses the officer in French and lets the manager in
    _login(browser, "officer@ong.ml")
    refused = browser.get("/managers")
    assert refused.status_code == 403 and "réservée" in refused.json()["detail"]
    _login(browser, "manager@ong.ml")
    assert browser.get("/managers").status_code == 200


def test_forms_need_the_session_csrf_token(
    browser: TestClient, make_user: Callable[..., StaffUser]
) -> None:
    # given a logged-in officer and her session's token
    make_user(Role.officer)
    token = _login(browser, "officer@ong.ml")["csrf"]
    # when a form is posted without the token, or with a wrong one, it is refused
    missing = browser.post("/change", data={"note": "x"})
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = browser.post("/change", data={"note": "x", "csrf_token": token + "x"})
    assert wrong.status_code == 403
    # then the form field or the HTMX header carrying the token is accepted
    ok = browser.post("/change", data={"note": "pause", "csrf_token": token})
    assert ok.json() == {"note": "pause", "by": "officer@ong.ml"}
    by_header = browser.post("/change", data={"note": "h"}, headers={"X-CSRF-Token": token})
    assert by_header.status_code == 200
    # and a request with no session at all goes to the login page
    browser.cookies.clear()
    assert browser.post("/change", data={"note": "x", "csrf_token": token}).status_code == 303


def test_each_login_gets_a_fresh_session_and_logout_ends_it(
    browser: TestClient, make_user: Callable[..., StaffUser]
) -> None:
    # given a session opened before logging in again
    make_user(Role.officer)
    first = _login(browser, "officer@ong.ml")
    first_id = browser.cookies[sessions.COOKIE_NAME]
    second = _login(browser, "officer@ong.ml")
    # then the id and CSRF token changed, and the old id no longer works
    assert browser.cookies[sessions.COOKIE_NAME] != first_id
    assert second["csrf"] != first["csrf"]
    other = TestClient(_console_app(), follow_redirects=False)
    other.cookies.set(sessions.COOKIE_NAME, first_id)
    assert other.get("/page").status_code == 303
    # when she logs out, then her pages need a login again
    browser.post("/logout")
    assert browser.get("/page").status_code == 303


def test_deactivated_user_loses_her_sessions(
    browser: TestClient, make_user: Callable[..., StaffUser], db: Session
) -> None:
    # given a logged-in manager
    user = make_user(Role.manager)
    _login(browser, "manager@ong.ml")
    # when an admin deactivates her
    service.deactivate(db, user=user)
    db.commit()
    # then her open session stops working at once
    assert browser.get("/page").status_code == 303


def test_end_user_sessions_logs_out_every_browser(
    browser: TestClient, make_user: Callable[..., StaffUser]
) -> None:
    # given the same user logged in on two browsers
    user = make_user(Role.officer)
    _login(browser, "officer@ong.ml")
    laptop = TestClient(_console_app(), follow_redirects=False)
    _login(laptop, "officer@ong.ml")
    # when her sessions are ended (password changed)
    assert user.id is not None
    sessions.end_user_sessions(user.id)
    # then neither browser is logged in
    assert browser.get("/page").status_code == 303
    assert laptop.get("/page").status_code == 303
