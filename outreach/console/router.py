"""The staff console: server-rendered pages, HTMX fragments, thin over the services."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from outreach.accounts import scopes
from outreach.accounts import service as accounts
from outreach.accounts.models import StaffUser
from outreach.accounts.sessions import LoginRequired, csrf_protect, end_session, start_session
from outreach.audit import service as audit
from outreach.chws import service as chws
from outreach.chws.models import Chw
from outreach.console import charts
from outreach.console.campaigns import router as campaign_pages
from outreach.console.deps import Admin, Forbidden, Manager, Officer, Viewer
from outreach.console.i18n import LANGUAGES, Translator
from outreach.console.web import render
from outreach.db import SessionDep, unit_of_work
from outreach.imports import service as imports
from outreach.imports.models import BeneficiaryImport
from outreach.inbound import service as inbound
from outreach.inbound.models import InboundMessage
from outreach.privacy import api as privacy
from outreach.privacy import service as privacy_service
from outreach.programmes import service as programmes
from outreach.registry import phones
from outreach.registry import service as registry
from outreach.registry.models import Beneficiary
from outreach.reports import beneficiaries as listing
from outreach.reports import chws as chw_listing
from outreach.reports import inbox as inbox_reads
from outreach.reports import service as reports
from outreach.sites.models import Site, SiteLevel
from outreach.timeutil import utcnow

# Login, logout, static files and the anonymous language switch.
public = APIRouter(prefix="/console", include_in_schema=False)
# Everything else: a signed-in user, and the session's CSRF token on every write.
router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(csrf_protect)])
STATIC = Path(__file__).parent / "static"
# Before login there is no session to hold a CSRF token: the login form carries a
# random value that must match this cookie (double submit).
LOGIN_CSRF_COOKIE = "console_login_csrf"


def install(app: FastAPI) -> None:
    """Mount the console and turn its refusals into pages rather than JSON."""
    app.include_router(public)
    app.include_router(router)
    app.include_router(campaign_pages)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = "/console/login?next=" + quote(
        exc.next_path if exc.next_path.startswith("/console") else "/console"
    )
    if request.headers.get("HX-Request"):
        # HTMX would swap the login page into a fragment: send the whole window there.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    t = Translator(exc.user.language)
    return render(
        request, "message.html", user=exc.user, status_code=403, error=t("common.forbidden")
    )


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@public.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response(status_code=404)
    # A day of caching spares slow connections the 50 kB of htmx on every page.
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


def _login_page(
    request: Request, *, next_path: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", csrf=token, next_path=next_path, error=error, status_code=status_code
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/console")
    return response


def _safe_next(raw: str | None) -> str:
    # Only our own pages: never an open redirect to another site.
    return raw if raw and raw.startswith("/console") and not raw.startswith("//") else "/console"


@public.get("/login", response_model=None)
def login_page(request: Request, next: str = "/console") -> HTMLResponse:
    return _login_page(request, next_path=_safe_next(next))


@public.post("/login", response_model=None)
def login(
    request: Request,
    session: SessionDep,
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/console"),
) -> Response:
    t = Translator(request.cookies.get("console_lang"))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _login_page(
            request, next_path=_safe_next(next), error=t("login.csrf"), status_code=403
        )
    outcome = accounts.login(session, email=email, password=password, ip=_ip(request))
    if outcome.user is None:
        if outcome.retry_after:
            minutes = max(1, -(-outcome.retry_after // 60))
            return _login_page(
                request,
                next_path=_safe_next(next),
                error=t("login.throttled", minutes=minutes),
                status_code=429,
            )
        return _login_page(
            request, next_path=_safe_next(next), error=t("login.failed"), status_code=401
        )
    response = _see_other(_safe_next(next))
    start_session(response, user=outcome.user, request=request)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, session: SessionDep, user: Viewer) -> Response:
    audit.record(session, action="auth.logout", user=user, ip=_ip(request))
    response = _see_other("/console/login")
    end_session(request, response)
    return response


def _back(request: Request, default: str = "/console") -> str:
    """The console page the form was on (from the Referer), else `default`."""
    from urllib.parse import urlsplit

    referer = urlsplit(request.headers.get("referer", ""))
    path = referer.path + (f"?{referer.query}" if referer.query else "")
    return _safe_next(path) if path.startswith("/console") else default


@public.post("/language", response_model=None)
def language_cookie(request: Request, language: str = Form("fr")) -> Response:
    """The login page's language switch: only a cookie, nothing stored."""
    choice = language if language in LANGUAGES else "fr"
    response = _see_other(_back(request, default="/console/login"))
    response.set_cookie("console_lang", choice, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.post("/me/language", response_model=None)
def language(
    request: Request, session: SessionDep, user: Viewer, language: str = Form("fr")
) -> Response:
    """Switch French/English for this user, on every browser."""
    user.language = language if language in LANGUAGES else "fr"
    session.add(user)
    return _see_other(_back(request))


# A repeated-lockout alert stays on the dashboard for a week: long enough for staff who
# come in a few days a week to see it, short enough not to become wallpaper.
PIN_ALERTS_SHOWN = timedelta(days=7)


@router.get("", response_model=None)
def dashboard(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    data = reports.dashboard(session, scope=scopes.villages(session, user=user))
    t = Translator(user.language)
    stage_bars = charts.bars(
        [
            (t(s), n, f"{n:,}".replace(",", "\u202f"))
            for s in data.enrollments.stages
            if (n := data.enrollments.stage_total(s))
        ]
    )
    network_bars = charts.bars(
        [
            (
                reports.NETWORK_NAMES.get(r.network, r.network),
                r.rate * 100,
                f"{100 * r.rate:.0f} % ({r.reports})",
            )
            for r in data.networks
        ]
    )
    drop_bars = charts.bars(
        [(r.screen, r.dropped, f"{r.dropped}/{r.sessions}") for r in data.drop_off]
    )
    return render(
        request,
        "dashboard.html",
        user=user,
        active="dashboard",
        data=data,
        stage_bars=stage_bars,
        network_bars=network_bars,
        drop_bars=drop_bars,
        message_columns=charts.stacked_columns(data.messages),
        pin_alerts=chws.lockout_alerts(session, since=utcnow() - PIN_ALERTS_SHOWN),
    )


# --- beneficiaries -------------------------------------------------------------------


def _villages(session: SessionDep, user: StaffUser) -> list[Site]:
    return [s for s in scopes.visible_sites(session, user=user) if s.level == SiteLevel.VILLAGE]


def _list_filters(request: Request, session: SessionDep, user: StaffUser) -> listing.Filters:
    filters = listing.Filters.from_query(request.query_params)
    return replace(filters, scope=scopes.villages(session, user=user))


def _visible(session: SessionDep, user: StaffUser, beneficiary_id: int) -> Beneficiary | None:
    """Her record, or None when missing or outside the user's sites (the same 404 page)."""
    found = session.get(Beneficiary, beneficiary_id)
    return found if scopes.sees(session, user=user, beneficiary=found) else None


@router.get("/beneficiaries", response_model=None)
def beneficiaries(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    filters = _list_filters(request, session, user)
    page_no = request.query_params.get("page", "1")
    page = listing.search(session, filters=filters, page=int(page_no) if page_no.isdigit() else 1)
    template = (
        "_beneficiary_rows.html" if request.headers.get("HX-Request") else "beneficiaries.html"
    )
    return render(
        request,
        template,
        user=user,
        active="beneficiaries",
        page=page,
        filters=filters,
        sites=scopes.visible_sites(session, user=user),
        stages=reports.STAGE_KEYS,
        mask=phones.national,
    )


@router.get("/beneficiaries.csv", response_model=None)
def export_beneficiaries(request: Request, session: SessionDep, user: Viewer) -> Response:
    """The current list as CSV (every page), recorded in the audit log."""
    filters = _list_filters(request, session, user)
    audit.record(
        session,
        action="beneficiary.export",
        user=user,
        object_type="beneficiary",
        # A search may be a name or a number: the log says one was made, not what.
        detail={"filters": filters.query_string(q="***" if filters.q else "")},
        ip=_ip(request),
    )

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            ["code", "nom", "telephone", "village", "langue", "deplacee", "statut", "inscrite_le"]
        )
        # The request's session has committed by now: a session of its own reads the
        # list a chunk at a time while it streams, so memory stays flat.
        with unit_of_work() as reader:
            for r in listing.export_rows(reader, filters=filters):
                writer.writerow(
                    [
                        r.code,
                        r.name,
                        r.phone or "",
                        r.village or "",
                        r.language,
                        "oui" if r.displaced else "non",
                        r.status,
                        r.created_at.date().isoformat(),
                    ]
                )
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="beneficiaires.csv"'},
    )


def _detail_page(
    request: Request, session: SessionDep, user, beneficiary_id: int, **extra
) -> HTMLResponse:
    found = (
        listing.detail(session, beneficiary_id=beneficiary_id)
        if _visible(session, user, beneficiary_id)
        else None
    )
    if found is None:
        t = Translator(user.language)
        return render(
            request, "message.html", user=user, status_code=404, error=t("beneficiary.not_found")
        )
    village_id = found.beneficiary.village_id
    # Her village's CHWs, a handful: the form asks for others village by village.
    options = chws.covering(session, village_id=village_id) if village_id else []
    return render(
        request,
        "beneficiary.html",
        user=user,
        active="beneficiaries",
        d=found,
        options=options,
        villages=_villages(session, user),
        national=phones.national,
        **extra,
    )


@router.get("/beneficiaries/{beneficiary_id}", response_model=None)
def beneficiary(
    request: Request, session: SessionDep, user: Viewer, beneficiary_id: int
) -> HTMLResponse:
    return _detail_page(request, session, user, beneficiary_id)


@router.post("/beneficiaries/{beneficiary_id}/correct", response_model=None)
def beneficiary_correct(
    request: Request,
    session: SessionDep,
    user: Officer,
    beneficiary_id: int,
    name: str = Form(""),
    phone: str = Form(""),
    language: str = Form(""),
    displaced: str = Form(""),
    village_id: int | None = Form(None),
) -> HTMLResponse:
    """Fix her name, phone, language, village or displaced flag."""
    t = Translator(user.language)
    found = _visible(session, user, beneficiary_id)
    if found is None:
        return render(
            request, "message.html", user=user, status_code=404, error=t("beneficiary.not_found")
        )
    try:
        changed = registry.correct(
            session,
            beneficiary=found,
            name=name or None,
            phone=phones.normalize(phone) if phone.strip() else None,
            language=language if language in ("fr", "bm") else None,
            displaced={"1": True, "0": False}.get(displaced),
            village_id=village_id,
        )
    except phones.InvalidPhoneNumber:
        return _detail_page(
            request,
            session,
            user,
            beneficiary_id,
            status_code=422,
            error=t("common.invalid", detail=t("import.invalid_phone", value=phone[:25])),
        )
    except ValueError as exc:
        return _detail_page(
            request,
            session,
            user,
            beneficiary_id,
            status_code=422,
            error=t("common.invalid", detail=str(exc)),
        )
    # The fields changed, never their values (a name or a number is personal data).
    audit.record(
        session,
        action="beneficiary.correct",
        user=user,
        object_type="beneficiary",
        object_id=beneficiary_id,
        detail={"fields": changed},
        ip=_ip(request),
    )
    return _detail_page(request, session, user, beneficiary_id, flash=t("beneficiary.saved"))


@router.get("/beneficiaries/{beneficiary_id}/export.json", response_model=None)
def beneficiary_export(
    request: Request, session: SessionDep, user: Officer, beneficiary_id: int
) -> Response:
    """Everything held about her, as a JSON download (audited)."""
    found = _visible(session, user, beneficiary_id)
    if found is None:
        t = Translator(user.language)
        return render(
            request, "message.html", user=user, status_code=404, error=t("beneficiary.not_found")
        )
    return privacy.export_response(session, found, user=user, ip=_ip(request))


@router.post("/beneficiaries/{beneficiary_id}/erase", response_model=None)
def beneficiary_erase(
    request: Request, session: SessionDep, user: Admin, beneficiary_id: int
) -> HTMLResponse:
    """Anonymise her for good (admin; the form asks for confirmation first)."""
    t = Translator(user.language)
    found = _visible(session, user, beneficiary_id)
    if found is None:
        return render(
            request, "message.html", user=user, status_code=404, error=t("beneficiary.not_found")
        )
    result = privacy_service.erase_audited(session, beneficiary=found, user=user, ip=_ip(request))
    session.flush()
    flash = t("beneficiary.already_erased") if result.already else t("beneficiary.erased")
    return _detail_page(request, session, user, beneficiary_id, flash=flash)


@router.post("/beneficiaries/{beneficiary_id}/{action}", response_model=None)
def beneficiary_action(
    request: Request,
    session: SessionDep,
    user: Officer,
    beneficiary_id: int,
    action: str,
    to_chw_id: int | None = Form(None),
    to_village_id: int | None = Form(None),
) -> HTMLResponse:
    """Pause, resume, opt out or transfer one beneficiary."""
    t = Translator(user.language)
    if _visible(session, user, beneficiary_id) is None:
        return render(
            request, "message.html", user=user, status_code=404, error=t("beneficiary.not_found")
        )
    detail: dict[str, object] = {}
    if action == "pause":
        detail["enrollments"] = programmes.pause(session, beneficiary_id=beneficiary_id)
    elif action == "resume":
        detail["enrollments"] = programmes.resume(session, beneficiary_id=beneficiary_id)
    elif action == "opt-out":
        registry.opt_out_beneficiary(
            session,
            beneficiary_id=beneficiary_id,
            withdrawal=registry.ConsentInfo(
                text_key="staff_opt_out",
                text_version=1,
                language="fr",
                channel="staff",
                granted=False,
            ),
            reason="staff_opt_out",
        )
    elif action == "transfer":
        if to_chw_id is None or session.get(Chw, to_chw_id) is None:
            return _detail_page(
                request,
                session,
                user,
                beneficiary_id,
                status_code=422,
                error=t("common.invalid", detail=t("beneficiary.to_chw")),
            )
        move = registry.transfer(
            session, beneficiary_id=beneficiary_id, to_chw_id=to_chw_id, to_village_id=to_village_id
        )
        detail = {"to_chw_id": move.to_chw_id, "to_village_id": move.to_village_id}
    else:
        return render(request, "message.html", user=user, status_code=404, error=action)
    audit.record(
        session,
        action=f"beneficiary.{action.replace('-', '_')}",
        user=user,
        object_type="beneficiary",
        object_id=beneficiary_id,
        detail=detail,
        ip=_ip(request),
    )
    session.flush()
    return _detail_page(request, session, user, beneficiary_id, flash=t("beneficiary.saved"))


# --- CSV import ------------------------------------------------------------------------


@router.get("/import", response_model=None)
def import_form(request: Request, user: Officer) -> HTMLResponse:
    return render(request, "import.html", user=user, active="import")


@router.post("/import", response_model=None)
def import_check(
    request: Request, session: SessionDep, user: Officer, file: UploadFile = File(...)
) -> HTMLResponse:
    """The dry run: every line checked, nothing registered."""
    t = Translator(user.language)
    data = file.file.read(imports.MAX_BYTES + 1)
    try:
        batch = imports.check(session, data=data, filename=file.filename or "", user=user)
    except imports.ImportError_ as exc:
        return render(
            request, "import.html", user=user, active="import", status_code=422, error=t(str(exc))
        )
    audit.record(
        session,
        action="import.check",
        user=user,
        object_type="import",
        object_id=batch.id,
        detail={"lines": batch.total_lines, "valid": batch.valid_lines},
        ip=_ip(request),
    )
    return render(request, "import_report.html", user=user, active="import", batch=batch)


@router.post("/import/{import_id}/commit", response_model=None)
def import_commit(request: Request, session: SessionDep, user: Officer, import_id: int) -> Response:
    batch = imports.confirm(session, import_id=import_id)
    audit.record(
        session,
        action="import.commit",
        user=user,
        object_type="import",
        object_id=batch.id,
        detail={"valid": batch.valid_lines},
        ip=_ip(request),
    )
    return _see_other(f"/console/import/{import_id}")


@router.get("/import/{import_id}", response_model=None)
def import_progress(
    request: Request, session: SessionDep, user: Viewer, import_id: int
) -> HTMLResponse:
    """The progress page; HTMX polls the same URL for the bar alone until it is done."""
    batch = session.get(BeneficiaryImport, import_id)
    if batch is None:
        return render(request, "message.html", user=user, status_code=404, error=str(import_id))
    template = (
        "_import_progress.html" if request.headers.get("HX-Request") else "import_progress.html"
    )
    return render(request, template, user=user, active="import", batch=batch)


# --- inbox -----------------------------------------------------------------------------


@router.get("/inbox", response_model=None)
def inbox(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    return _inbox_page(request, session, user)


def _inbox_page(
    request: Request, session: SessionDep, user: StaffUser, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "inbox.html",
        user=user,
        active="inbox",
        items=inbox_reads.unhandled(
            session,
            visible=scopes.beneficiary_ids_condition(
                InboundMessage.beneficiary_id, scopes.villages(session, user=user)
            ),
        ),
        national=phones.national,
        max_reply=inbound.STAFF_REPLY_MAX_CHARS,
        **extra,
    )


@router.post("/inbox/{message_id}/{action}", response_model=None)
def inbox_action(
    request: Request,
    session: SessionDep,
    user: Officer,
    message_id: int,
    action: str,
    text: str = Form(""),
) -> HTMLResponse:
    """Assign to me, mark handled, or reply (the reply goes out through the outbox)."""
    t = Translator(user.language)
    message = session.get(InboundMessage, message_id)
    if (
        message is None
        or action not in ("assign", "handled", "reply")
        or not scopes.sees_woman(session, user=user, beneficiary_id=message.beneficiary_id)
    ):
        return render(request, "message.html", user=user, status_code=404, error=str(message_id))
    assert user.id is not None
    if action == "assign":
        inbound.assign(session, message=message, user_id=user.id)
    elif action == "handled":
        inbound.mark_handled(session, message=message, user_id=user.id)
    else:
        try:
            inbound.staff_reply(session, message=message, text=text, user_id=user.id)
        except ValueError as exc:
            return _inbox_page(
                request, session, user, status_code=422, error=t("common.invalid", detail=str(exc))
            )
    audit.record(
        session,
        action=f"inbox.{action}",
        user=user,
        object_type="inbound_message",
        object_id=message_id,
        ip=_ip(request),
    )
    session.flush()
    return _inbox_page(request, session, user, flash=t("beneficiary.saved"))


# --- CHWs and sites --------------------------------------------------------------------


def _chws_page(request: Request, session: SessionDep, user, **extra) -> HTMLResponse:
    filters = chw_listing.Filters.from_query(request.query_params)
    page_no = request.query_params.get("page", "1")
    page = chw_listing.search(
        session,
        filters=filters,
        page=int(page_no) if page_no.isdigit() else 1,
        visible=scopes.chw_condition(session, user=user),
    )
    template = "_chw_rows.html" if request.headers.get("HX-Request") else "chws.html"
    sites = scopes.visible_sites(session, user=user)
    return render(
        request,
        template,
        user=user,
        active="chws",
        page=page,
        filters=filters,
        sites=sites,
        villages=[s for s in sites if s.level == SiteLevel.VILLAGE],
        national=phones.national,
        **extra,
    )


def _chw_page(
    request: Request, session: SessionDep, user, chw_id: int, **extra: Any
) -> HTMLResponse:
    found = (
        chw_listing.detail(session, chw_id=chw_id)
        if scopes.sees_chw(session, user=user, chw_id=chw_id)
        else None
    )
    if found is None:
        t = Translator(user.language)
        return render(
            request, "message.html", user=user, status_code=404, error=t("chws.not_found")
        )
    return render(
        request,
        "chw.html",
        user=user,
        active="chws",
        r=found,
        villages=_villages(session, user),
        national=phones.national,
        **extra,
    )


@router.get("/chws", response_model=None)
def chw_list(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    """A page of 50 CHWs by name; HTMX searches get the rows alone."""
    return _chws_page(request, session, user)


@router.get("/chws/options", response_model=None)
def chw_options(
    request: Request,
    session: SessionDep,
    user: Viewer,
    village_id: str = "",
    to_village_id: str = "",
) -> HTMLResponse:
    """The `<option>`s of the active CHWs covering a village, for the transfer form.

    The form's village select sends `to_village_id`; empty, she stays in her village,
    the `village_id` of its URL.
    """
    chosen = next((int(v) for v in (to_village_id, village_id) if v.isdigit()), None)
    options = chws.covering(session, village_id=chosen) if chosen else []
    return render(
        request,
        "_chw_options.html",
        user=user,
        options=options,
        village_chosen=chosen is not None,
        national=phones.national,
    )


@router.get("/chws/{chw_id}", response_model=None)
def chw_detail(request: Request, session: SessionDep, user: Viewer, chw_id: int) -> HTMLResponse:
    return _chw_page(request, session, user, chw_id)


@router.post("/chws", response_model=None)
def chw_add(
    request: Request,
    session: SessionDep,
    user: Manager,
    name: str = Form(""),
    phone: str = Form(""),
    pin: str = Form(""),
    language: str = Form("fr"),
    site_ids: list[int] = Form(default_factory=list),
) -> HTMLResponse:
    t = Translator(user.language)
    try:
        if not name.strip():
            raise ValueError(t("chws.name"))
        chw = chws.add(
            session,
            name=name,
            phone=phones.normalize(phone),
            pin=pin,
            site_ids=scopes.assignable_sites(session, user=user, wanted=site_ids),
            language=language if language in ("fr", "bm") else "fr",
        )
    except phones.InvalidPhoneNumber:
        return _chws_page(
            request,
            session,
            user,
            status_code=422,
            error=t("common.invalid", detail=t("import.invalid_phone", value=phone[:25])),
        )
    except ValueError as exc:
        return _chws_page(
            request, session, user, status_code=422, error=t("common.invalid", detail=str(exc))
        )
    audit.record(
        session,
        action="chw.create",
        user=user,
        object_type="chw",
        object_id=chw.id,
        detail={"sites": site_ids},
        ip=_ip(request),
    )
    return _chws_page(request, session, user, flash=t("beneficiary.saved"))


@router.post("/chws/{chw_id}", response_model=None)
def chw_edit(
    request: Request,
    session: SessionDep,
    user: Manager,
    chw_id: int,
    name: str = Form(""),
    language: str = Form("fr"),
    site_ids: list[int] = Form(default_factory=list),
) -> HTMLResponse:
    t = Translator(user.language)
    chw = session.get(Chw, chw_id)
    if chw is None or not scopes.sees_chw(session, user=user, chw_id=chw_id):
        return _chw_page(request, session, user, chw_id)
    try:
        site_ids = scopes.assignable_sites(
            session, user=user, wanted=site_ids, current=chws.site_ids(session, chw_id=chw_id)
        )
        chws.update(
            session,
            chw=chw,
            name=name,
            language=language if language in ("fr", "bm") else "fr",
            site_ids=site_ids,
        )
    except ValueError as exc:
        return _chw_page(
            request,
            session,
            user,
            chw_id,
            status_code=422,
            error=t("common.invalid", detail=str(exc)),
        )
    audit.record(
        session,
        action="chw.update",
        user=user,
        object_type="chw",
        object_id=chw_id,
        detail={"sites": site_ids, "language": chw.language},
        ip=_ip(request),
    )
    return _chw_page(request, session, user, chw_id, flash=t("beneficiary.saved"))


@router.post("/chws/{chw_id}/deactivate", response_model=None)
def chw_deactivate(
    request: Request, session: SessionDep, user: Manager, chw_id: int
) -> HTMLResponse:
    chw = session.get(Chw, chw_id)
    if chw is None or not scopes.sees_chw(session, user=user, chw_id=chw_id):
        return _chw_page(request, session, user, chw_id)
    chws.deactivate(session, chw=chw)
    audit.record(
        session,
        action="chw.deactivate",
        user=user,
        object_type="chw",
        object_id=chw_id,
        ip=_ip(request),
    )
    return _chw_page(
        request, session, user, chw_id, flash=Translator(user.language)("beneficiary.saved")
    )


@router.post("/chws/{chw_id}/pin", response_model=None)
def chw_reset_pin(
    request: Request, session: SessionDep, user: Manager, chw_id: int, pin: str = Form("")
) -> HTMLResponse:
    t = Translator(user.language)
    chw = session.get(Chw, chw_id)
    if chw is None or not scopes.sees_chw(session, user=user, chw_id=chw_id):
        return _chw_page(request, session, user, chw_id)
    try:
        chws.reset_pin(session, chw=chw, pin=pin)
    except ValueError as exc:
        return _chw_page(
            request,
            session,
            user,
            chw_id,
            status_code=422,
            error=t("common.invalid", detail=str(exc)),
        )
    # The PIN itself is never recorded.
    audit.record(
        session,
        action="chw.reset_pin",
        user=user,
        object_type="chw",
        object_id=chw_id,
        ip=_ip(request),
    )
    return _chw_page(request, session, user, chw_id, flash=t("beneficiary.saved"))


@router.get("/sites", response_model=None)
def site_list(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    return _sites_page(request, session, user)


def _sites_page(request: Request, session: SessionDep, user, **extra) -> HTMLResponse:
    sites = scopes.visible_sites(session, user=user)
    names = {s.id: s.name for s in sites}
    return render(
        request,
        "sites.html",
        user=user,
        active="sites",
        sites=sites,
        names=names,
        levels=[lvl.value for lvl in SiteLevel],
        **extra,
    )


@router.post("/sites", response_model=None)
def site_add(
    request: Request,
    session: SessionDep,
    user: Manager,
    name: str = Form(""),
    level: str = Form(""),
    parent_id: int | None = Form(None),
) -> HTMLResponse:
    from outreach.sites import service as sites

    t = Translator(user.language)
    levels = [lvl.value for lvl in SiteLevel]
    parent = session.get(Site, parent_id) if parent_id else None
    problem = ""
    if not name.strip() or level not in levels:
        problem = t("sites.name")
    elif level != SiteLevel.REGION and (
        parent is None or levels.index(parent.level) != levels.index(level) - 1
    ):
        problem = t("sites.parent")
    if problem:
        return _sites_page(
            request, session, user, status_code=422, error=t("common.invalid", detail=problem)
        )
    site = sites.get_or_create(
        session,
        name=name.strip()[:120],
        level=SiteLevel(level),
        parent_id=parent.id if parent else None,
    )
    audit.record(
        session,
        action="site.create",
        user=user,
        object_type="site",
        object_id=site.id,
        detail={"level": level},
        ip=_ip(request),
    )
    return _sites_page(request, session, user, flash=t("beneficiary.saved"))
