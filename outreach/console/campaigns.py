"""Campaign pages: composer with live preflight, approval queue, schedule, progress, cancel.

Every rule (roles, no self-approval, transitions, cost) lives in `outreach.campaigns`;
these views turn form fields into its schemas and its answers into pages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import col, select
from starlette.datastructures import FormData

from outreach.accounts import scopes
from outreach.accounts.sessions import csrf_protect
from outreach.campaigns import preflight as campaign_preflight
from outreach.campaigns import service
from outreach.campaigns.models import CampaignStatus
from outreach.campaigns.schemas import CampaignIn, PreflightIn, ScheduleIn
from outreach.console.deps import Manager, Officer, Viewer
from outreach.console.i18n import Translator
from outreach.console.web import render
from outreach.db import SessionDep
from outreach.sites.models import Site

router = APIRouter(
    prefix="/console/campaigns", include_in_schema=False, dependencies=[Depends(csrf_protect)]
)


async def _form(request: Request) -> FormData:
    # Parsed once on the event loop (Starlette caches it), so the views can stay sync.
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _errors(exc: ValidationError) -> str:
    # Pydantic's messages from our validators are already French; drop its prefix.
    return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())


def _int_or_none(raw: Any) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() else None


def _draft_fields(form: FormData) -> dict[str, Any]:
    """The composer's fields as the campaign schemas expect them."""
    mode = form.get("message_mode") or "texts"
    texts = {lang: str(form.get(f"text_{lang}") or "") for lang in ("fr", "bm")}
    displaced = {"1": True, "0": False}.get(str(form.get("displaced") or ""))
    return {
        "texts": texts if mode == "texts" else None,
        "content_key": (str(form.get("content_key") or "") or None) if mode == "content" else None,
        "audience": {
            "site_ids": [int(str(v)) for v in form.getlist("site_ids") if str(v).isdigit()],
            "programme": str(form.get("programme") or "") or None,
            "stage_from": _int_or_none(form.get("stage_from")),
            "stage_to": _int_or_none(form.get("stage_to")),
            "stage_unit": str(form.get("stage_unit") or "weeks"),
            "languages": [str(v) for v in form.getlist("languages")],
            "displaced": displaced,
            "appointment_kind": str(form.get("appointment_kind") or "") or None,
            "appointment_within_days": _int_or_none(form.get("appointment_within_days")),
        },
    }


def _campaign_fields(form: FormData) -> dict[str, Any]:
    fields = _draft_fields(form)
    when = str(form.get("when") or "now")
    fields["name"] = str(form.get("name") or "")
    fields["send_at"] = (str(form.get("send_at") or "") or None) if when == "later" else None
    fields["weekly_until"] = str(form.get("weekly_until") or "") or None
    return fields


def _composer(request: Request, session: SessionDep, user: Any, **extra: Any) -> HTMLResponse:
    return render(
        request,
        "campaign_new.html",
        user=user,
        active="campaigns",
        sites=scopes.visible_sites(session, user=user),
        values=extra.pop("values", {}),
        **extra,
    )


@router.get("", response_model=None)
def campaign_list(request: Request, session: SessionDep, user: Viewer) -> HTMLResponse:
    campaigns, total = service.list_campaigns(session, limit=100, user=user)
    pending = [c for c in campaigns if c.status == CampaignStatus.PENDING_APPROVAL]
    return render(
        request,
        "campaigns.html",
        user=user,
        active="campaigns",
        campaigns=campaigns,
        pending=pending,
        total=total,
        labels=service.STATUS_LABELS,
    )


@router.get("/new", response_model=None)
def composer(request: Request, session: SessionDep, user: Officer) -> HTMLResponse:
    return _composer(request, session, user)


@router.post("/preflight", response_model=None)
def live_preflight(request: Request, session: SessionDep, user: Viewer, form: Form) -> HTMLResponse:
    """The composer's preflight panel, re-rendered on every pause in typing."""
    try:
        draft = PreflightIn.model_validate(_draft_fields(form))
    except ValidationError as exc:
        return render(request, "_preflight.html", user=user, error=_errors(exc))
    try:
        service.check_audience(session, user=user, site_ids=draft.audience.site_ids)
    except service.CampaignError as exc:
        return render(request, "_preflight.html", user=user, error=exc.message)
    result = campaign_preflight.preflight(session, draft=draft)
    return render(request, "_preflight.html", user=user, pf=result)


@router.post("/rewrite", response_model=None)
def rewrite(request: Request, user: Viewer, form: Form) -> HTMLResponse:
    """The one-click GSM-safe rewrite: the text area again, without the costly characters."""
    language = str(form.get("language") or "fr")
    language = language if language in ("fr", "bm") else "fr"
    text = campaign_preflight.rewrite_gsm_safe(str(form.get(f"text_{language}") or ""), language)
    response = render(request, "_textarea.html", user=user, language=language, text=text)
    # The composer listens for this to run the preflight again on the new text.
    response.headers["HX-Trigger-After-Settle"] = "rewritten"
    return response


@router.post("", response_model=None)
def create(request: Request, session: SessionDep, user: Officer, form: Form) -> Response:
    t = Translator(user.language)
    fields = _campaign_fields(form)
    try:
        draft = CampaignIn.model_validate(fields)
        campaign = service.create(session, user=user, draft=draft)
    except ValidationError as exc:
        return _composer(
            request,
            session,
            user,
            status_code=422,
            values=form,
            error=t("common.invalid", detail=_errors(exc)),
        )
    except service.CampaignError as exc:
        return _composer(
            request, session, user, status_code=exc.status_code, values=form, error=exc.message
        )
    session.flush()
    assert campaign.id is not None
    if form.get("submit_now"):
        try:
            service.submit(session, user=user, campaign_id=campaign.id)
        except service.CampaignError as exc:
            return _detail(
                request, session, user, campaign.id, status_code=exc.status_code, error=exc.message
            )
    return RedirectResponse(f"/console/campaigns/{campaign.id}", status_code=303)


def _detail(
    request: Request, session: SessionDep, user: Any, campaign_id: int, **extra: Any
) -> HTMLResponse:
    try:
        campaign = service.get(session, campaign_id=campaign_id, user=user)
    except service.CampaignError as exc:
        return render(
            request, "message.html", user=user, status_code=exc.status_code, error=exc.message
        )
    pf = None
    # What it would reach and cost matters until it starts; then the progress says it all.
    if campaign.status in (
        CampaignStatus.DRAFT,
        CampaignStatus.PENDING_APPROVAL,
        CampaignStatus.SCHEDULED,
    ):
        try:
            pf = campaign_preflight.preflight(session, draft=service.message_of(campaign))
        except (ValueError, service.CampaignError):
            pf = None
    sites = {
        s.id: s.name
        for s in session.exec(
            select(Site).where(col(Site.id).in_(campaign.audience.get("site_ids") or [-1]))
        )
    }
    return render(
        request,
        "campaign.html",
        user=user,
        active="campaigns",
        c=campaign,
        pf=pf,
        progress=service.progress(session, campaign_id=campaign_id, user=user),
        labels=service.STATUS_LABELS,
        site_names=sites,
        **extra,
    )


@router.get("/{campaign_id}", response_model=None)
def detail(request: Request, session: SessionDep, user: Viewer, campaign_id: int) -> HTMLResponse:
    return _detail(request, session, user, campaign_id)


@router.get("/{campaign_id}/progress", response_model=None)
def progress(request: Request, session: SessionDep, user: Viewer, campaign_id: int) -> HTMLResponse:
    """The live progress bar alone; HTMX polls it while the campaign is sending."""
    try:
        campaign = service.get(session, campaign_id=campaign_id, user=user)
    except service.CampaignError as exc:
        return render(
            request, "message.html", user=user, status_code=exc.status_code, error=exc.message
        )
    return render(
        request,
        "_campaign_progress.html",
        user=user,
        c=campaign,
        progress=service.progress(session, campaign_id=campaign_id, user=user),
        labels=service.STATUS_LABELS,
    )


def _act(
    request: Request, session: SessionDep, user: Any, campaign_id: int, action: Any
) -> HTMLResponse:
    try:
        action()
    except service.CampaignError as exc:
        session.rollback()
        return _detail(
            request, session, user, campaign_id, status_code=exc.status_code, error=exc.message
        )
    session.flush()
    return _detail(
        request, session, user, campaign_id, flash=Translator(user.language)("beneficiary.saved")
    )


@router.post("/{campaign_id}/submit", response_model=None)
def submit(request: Request, session: SessionDep, user: Officer, campaign_id: int) -> HTMLResponse:
    return _act(
        request,
        session,
        user,
        campaign_id,
        lambda: service.submit(session, user=user, campaign_id=campaign_id),
    )


@router.post("/{campaign_id}/approve", response_model=None)
def approve(request: Request, session: SessionDep, user: Manager, campaign_id: int) -> HTMLResponse:
    return _act(
        request,
        session,
        user,
        campaign_id,
        lambda: service.approve(session, user=user, campaign_id=campaign_id),
    )


@router.post("/{campaign_id}/reject", response_model=None)
def reject(
    request: Request, session: SessionDep, user: Manager, campaign_id: int, form: Form
) -> HTMLResponse:
    reason = str(form.get("reason") or "")
    return _act(
        request,
        session,
        user,
        campaign_id,
        lambda: service.reject(session, user=user, campaign_id=campaign_id, reason=reason),
    )


@router.post("/{campaign_id}/start", response_model=None)
def start(request: Request, session: SessionDep, user: Manager, campaign_id: int) -> HTMLResponse:
    return _act(
        request,
        session,
        user,
        campaign_id,
        lambda: service.start(session, user=user, campaign_id=campaign_id),
    )


@router.post("/{campaign_id}/schedule", response_model=None)
def schedule(
    request: Request, session: SessionDep, user: Manager, campaign_id: int, form: Form
) -> HTMLResponse:
    t = Translator(user.language)
    try:
        body = ScheduleIn.model_validate(
            {
                "send_at": form.get("send_at") or None,
                "weekly_until": form.get("weekly_until") or None,
            }
        )
    except ValidationError as exc:
        return _detail(
            request,
            session,
            user,
            campaign_id,
            status_code=422,
            error=t("common.invalid", detail=_errors(exc)),
        )
    return _act(
        request,
        session,
        user,
        campaign_id,
        lambda: service.schedule(
            session,
            user=user,
            campaign_id=campaign_id,
            send_at=body.send_at,
            weekly_until=body.weekly_until,
        ),
    )


@router.post("/{campaign_id}/cancel", response_model=None)
def cancel(request: Request, session: SessionDep, user: Officer, campaign_id: int) -> HTMLResponse:
    return _act(
        request,
        session,
        user,
        campaign_id,
        lambda: service.cancel(session, user=user, campaign_id=campaign_id),
    )
