"""REST API for campaigns (`/api/v1/campaigns`): a few lines a route; rules live in the service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from outreach.accounts.deps import Manager, Officer, Viewer
from outreach.campaigns import preflight as campaign_preflight
from outreach.campaigns import service
from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.campaigns.schemas import CampaignIn, PreflightIn, RejectIn, RewriteIn, ScheduleIn
from outreach.db import SessionDep

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@contextmanager
def _answer() -> Iterator[None]:
    # A refused action is a JSON error with its French message: 404, 403, 409 or 422.
    try:
        yield
    except service.CampaignError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from exc
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def as_dict(campaign: Campaign) -> dict[str, Any]:
    """A campaign as the API shows it."""
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "status_label": service.STATUS_LABELS.get(CampaignStatus(campaign.status)),
        "texts": campaign.texts,
        "content_key": campaign.content_key,
        "audience": campaign.audience,
        "send_at": _iso(campaign.send_at),
        "weekly_until": _iso(campaign.weekly_until),
        "next_run_at": _iso(campaign.next_run_at),
        "runs": campaign.runs,
        "created_by_id": campaign.created_by_id,
        "submitted_by_id": campaign.submitted_by_id,
        "approved_by_id": campaign.approved_by_id,
        "rejection_reason": campaign.rejection_reason,
        "created_at": _iso(campaign.created_at),
        "updated_at": _iso(campaign.updated_at),
        "submitted_at": _iso(campaign.submitted_at),
        "approved_at": _iso(campaign.approved_at),
        "cancelled_at": _iso(campaign.cancelled_at),
        "finished_at": _iso(campaign.finished_at),
    }


@router.get("", response_model=None)
def list_campaigns(
    db: SessionDep,
    user: Viewer,
    status: CampaignStatus | None = None,
    page: int = Query(1, ge=1),
    per_page: int = Query(20, ge=1, le=100),
) -> dict[str, Any]:
    """Campaigns, newest first, a page at a time, optionally of one status."""
    items, total = service.list_campaigns(
        db, status=status, offset=(page - 1) * per_page, limit=per_page, user=user
    )
    return {
        "items": [as_dict(c) for c in items],
        "total": total,
        "page": page,
        "per_page": per_page,
    }


@router.post("", response_model=None, status_code=201)
def create_campaign(body: CampaignIn, db: SessionDep, user: Officer) -> dict[str, Any]:
    """Create a draft (officer or above)."""
    with _answer():
        return as_dict(service.create(db, user=user, draft=body))


@router.post("/preflight", response_model=None)
def preflight(body: PreflightIn, db: SessionDep, user: Viewer) -> dict[str, Any]:
    """Recipients, encoding, segments, cost and samples of a draft as composed; changes nothing."""
    with _answer():
        service.check_audience(db, user=user, site_ids=body.audience.site_ids)
        return campaign_preflight.preflight(db, draft=body).as_dict()


@router.post("/rewrite-gsm", response_model=None)
def rewrite_gsm(body: RewriteIn, _user: Viewer) -> dict[str, Any]:
    """The text without the characters that force UCS-2."""
    return {"text": campaign_preflight.rewrite_gsm_safe(body.text, body.language)}


@router.get("/{campaign_id}", response_model=None)
def get_campaign(campaign_id: int, db: SessionDep, user: Viewer) -> dict[str, Any]:
    with _answer():
        return as_dict(service.get(db, campaign_id=campaign_id, user=user))


@router.put("/{campaign_id}", response_model=None)
def update_campaign(
    campaign_id: int, body: CampaignIn, db: SessionDep, user: Officer
) -> dict[str, Any]:
    """Change a draft (officer or above)."""
    with _answer():
        return as_dict(service.update(db, user=user, campaign_id=campaign_id, draft=body))


@router.get("/{campaign_id}/preflight", response_model=None)
def saved_preflight(campaign_id: int, db: SessionDep, user: Viewer) -> dict[str, Any]:
    """The preflight of a saved campaign, as of today."""
    with _answer():
        campaign = service.get(db, campaign_id=campaign_id, user=user)
        return campaign_preflight.preflight(db, draft=service.message_of(campaign)).as_dict()


@router.post("/{campaign_id}/submit", response_model=None)
def submit(campaign_id: int, db: SessionDep, user: Officer) -> dict[str, Any]:
    with _answer():
        return as_dict(service.submit(db, user=user, campaign_id=campaign_id))


@router.post("/{campaign_id}/approve", response_model=None)
def approve(campaign_id: int, db: SessionDep, user: Manager) -> dict[str, Any]:
    with _answer():
        return as_dict(service.approve(db, user=user, campaign_id=campaign_id))


@router.post("/{campaign_id}/reject", response_model=None)
def reject(campaign_id: int, body: RejectIn, db: SessionDep, user: Manager) -> dict[str, Any]:
    with _answer():
        return as_dict(service.reject(db, user=user, campaign_id=campaign_id, reason=body.reason))


@router.post("/{campaign_id}/start", response_model=None)
def start(campaign_id: int, db: SessionDep, user: Manager) -> dict[str, Any]:
    """Start sending an approved campaign now."""
    with _answer():
        return as_dict(service.start(db, user=user, campaign_id=campaign_id))


@router.post("/{campaign_id}/schedule", response_model=None)
def schedule(campaign_id: int, body: ScheduleIn, db: SessionDep, user: Manager) -> dict[str, Any]:
    """Set the next send time (Africa/Bamako when no zone is given), optionally weekly."""
    with _answer():
        return as_dict(
            service.schedule(
                db,
                user=user,
                campaign_id=campaign_id,
                send_at=body.send_at,
                weekly_until=body.weekly_until,
            )
        )


@router.post("/{campaign_id}/cancel", response_model=None)
def cancel(campaign_id: int, db: SessionDep, user: Officer) -> dict[str, Any]:
    """Cancel the campaign and every one of its SMS not yet handed to the gateway."""
    with _answer():
        campaign, cancelled = service.cancel(db, user=user, campaign_id=campaign_id)
        return {**as_dict(campaign), "messages_cancelled": cancelled}


@router.get("/{campaign_id}/progress", response_model=None)
def progress(campaign_id: int, db: SessionDep, user: Viewer) -> dict[str, Any]:
    """Queued, sent, delivered, failed by reason, cancelled, and percent complete."""
    with _answer():
        return service.progress(db, campaign_id=campaign_id, user=user)
