"""The staff console: server-rendered pages, HTMX fragments, thin over the services."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import select

from outreach.audit import service as audit
from outreach.chws.models import Chw
from outreach.console import charts
from outreach.console.deps import Manager, Officer, Viewer
from outreach.console.i18n import LANGUAGES, Translator
from outreach.console.web import render
from outreach.db import SessionDep
from outreach.imports import service as imports
from outreach.imports.models import BeneficiaryImport
from outreach.programmes import service as programmes
from outreach.registry import phones
from outreach.registry import service as registry
from outreach.registry.models import Beneficiary
from outreach.reports import beneficiaries as listing
from outreach.reports import service as reports
from outreach.sites.models import Site, SiteLevel

router = APIRouter(prefix="/console", include_in_schema=False)
STATIC = Path(__file__).parent / "static"


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or not path.is_file():
        return Response(status_code=404)
    # Versioned by deploy: a day of caching spares slow connections the 50 kB of htmx.
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


@router.get("", response_model=None)
def dashboard(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    data = reports.dashboard(session)
    t = Translator(user.language)
    stage_bars = charts.bars(
        [
            (t(s), n, f"{n:,}".replace(",", "\u202f"))
            for s in data.enrollments.stages
            if (n := data.enrollments.stage_total(s))
        ]
    )
    network_bars = charts.bars(
        [(r.network, r.rate * 100, f"{100 * r.rate:.0f} % ({r.reports})") for r in data.networks]
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
    )


@router.post("/language", response_model=None)
def language(request: Request, session: SessionDep, language: str = Form("fr")) -> Response:
    """Switch French/English: on the user when signed in, else in a cookie."""
    choice = language if language in LANGUAGES else "fr"
    from outreach.accounts.sessions import optional_console_user

    user = optional_console_user(request, session)
    if user is not None:
        user.language = choice
        session.add(user)
    response = _see_other(request.headers.get("referer") or "/console")
    response.set_cookie("console_lang", choice, max_age=365 * 86400, samesite="lax")
    return response


# --- beneficiaries -------------------------------------------------------------------


def _sites(session: SessionDep) -> list[Site]:
    order = {SiteLevel.REGION: 0, SiteLevel.DISTRICT: 1, SiteLevel.HEALTH_AREA: 2, SiteLevel.VILLAGE: 3}
    return sorted(session.exec(select(Site)), key=lambda s: (order.get(s.level, 9), s.name))


@router.get("/beneficiaries", response_model=None)
def beneficiaries(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    filters = listing.Filters.from_query(request.query_params)
    page_no = request.query_params.get("page", "1")
    page = listing.search(session, filters=filters, page=int(page_no) if page_no.isdigit() else 1)
    template = "_beneficiary_rows.html" if request.headers.get("HX-Request") else "beneficiaries.html"
    return render(
        request,
        template,
        user=user,
        active="beneficiaries",
        page=page,
        filters=filters,
        sites=_sites(session),
        stages=reports.STAGE_KEYS,
        mask=phones.national,
    )


@router.get("/beneficiaries.csv", response_model=None)
def export_beneficiaries(request: Request, session: SessionDep, user: Viewer) -> Response:
    """The current list as CSV (every page), recorded in the audit log."""
    filters = listing.Filters.from_query(request.query_params)
    audit.record(
        session,
        action="beneficiary.export",
        user=user,
        object_type="beneficiary",
        detail={"filters": filters.query_string()},
        ip=_ip(request),
    )
    # Read everything now, while the request's session is open; it streams out after.
    rows = list(listing.export_rows(session, filters=filters))

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["code", "nom", "telephone", "village", "langue", "deplacee", "statut", "inscrite_le"])
        for r in rows:
            writer.writerow(
                [r.code, r.name, r.phone or "", r.village or "", r.language,
                 "oui" if r.displaced else "non", r.status, r.created_at.date().isoformat()]
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


def _detail_page(request: Request, session: SessionDep, user, beneficiary_id: int, **extra) -> HTMLResponse:  # type: ignore[no-untyped-def]
    found = listing.detail(session, beneficiary_id=beneficiary_id)
    if found is None:
        t = Translator(user.language)
        return render(request, "message.html", user=user, status_code=404, error=t("beneficiary.not_found"))
    chws = session.exec(select(Chw).where(Chw.active == True).order_by(Chw.name)).all()  # noqa: E712
    return render(
        request,
        "beneficiary.html",
        user=user,
        active="beneficiaries",
        d=found,
        chws=chws,
        villages=[s for s in _sites(session) if s.level == SiteLevel.VILLAGE],
        national=phones.national,
        **extra,
    )


@router.get("/beneficiaries/{beneficiary_id}", response_model=None)
def beneficiary(request: Request, session: SessionDep, user: Viewer, beneficiary_id: int) -> HTMLResponse:
    return _detail_page(request, session, user, beneficiary_id)


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
    if session.get(Beneficiary, beneficiary_id) is None:
        return render(request, "message.html", user=user, status_code=404, error=t("beneficiary.not_found"))
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
                text_key="staff_opt_out", text_version=1, language="fr", channel="staff", granted=False
            ),
            reason="staff_opt_out",
        )
    elif action == "transfer":
        if to_chw_id is None or session.get(Chw, to_chw_id) is None:
            return _detail_page(request, session, user, beneficiary_id, status_code=422,
                                error=t("common.invalid", detail=t("beneficiary.to_chw")))
        move = registry.transfer(session, beneficiary_id=beneficiary_id, to_chw_id=to_chw_id, to_village_id=to_village_id)
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
        return render(request, "import.html", user=user, active="import", status_code=422, error=t(str(exc)))
    audit.record(session, action="import.check", user=user, object_type="import", object_id=batch.id,
                  detail={"lines": batch.total_lines, "valid": batch.valid_lines}, ip=_ip(request))
    return render(request, "import_report.html", user=user, active="import", batch=batch)


@router.post("/import/{import_id}/commit", response_model=None)
def import_commit(request: Request, session: SessionDep, user: Officer, import_id: int) -> Response:
    batch = imports.confirm(session, import_id=import_id)
    audit.record(session, action="import.commit", user=user, object_type="import",
                 object_id=batch.id, detail={"valid": batch.valid_lines}, ip=_ip(request))
    return _see_other(f"/console/import/{import_id}")


@router.get("/import/{import_id}", response_model=None)
def import_progress(request: Request, session: SessionDep, user: Viewer, import_id: int) -> HTMLResponse:
    """The progress page; HTMX polls the same URL for the bar alone until it is done."""
    batch = session.get(BeneficiaryImport, import_id)
    if batch is None:
        return render(request, "message.html", user=user, status_code=404, error=str(import_id))
    template = "_import_progress.html" if request.headers.get("HX-Request") else "import_progress.html"
    return render(request, template, user=user, active="import", batch=batch)
