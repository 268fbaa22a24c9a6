"""Campaign rules: drafting, approval, schedule, runs, cancel and progress.

The console and the REST API both call these functions; they check the user's role
themselves, so neither caller can skip a rule. Nothing here commits (see
`outreach.db`); Celery work is published after commit.

    draft ──submit──▶ pending_approval ──approve──▶ scheduled ──run starts──▶ sending ──▶ done
      ▲                    │                          ▲   (start now, or next_run_at)   │
      └──────reject────────┘                          └──── next weekly run ◀───────────┘
    any state but done ──cancel──▶ cancelled
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlalchemy import update as sql_update
from sqlmodel import Session, col, select

from outreach.accounts.models import Role, StaffUser
from outreach.audit.service import record
from outreach.campaigns.models import Campaign, CampaignRun, CampaignStatus
from outreach.campaigns.schemas import CampaignIn, PreflightIn
from outreach.config import get_settings
from outreach.db import after_commit
from outreach.outbox import metrics
from outreach.outbox.models import MessageStatus, OutboundMessage
from outreach.timeutil import utcnow

log = logging.getLogger(__name__)

MATERIALISE_TASK = "campaigns.materialise"
TICK_TASK = "campaigns.tick"
QUEUE = "maintenance"
# A run whose materialisation has shown no sign of life for this long is published again.
STALE_RUN = timedelta(seconds=60)
CANCEL_REASON = "campaign_cancelled"

STATUS_LABELS = {
    CampaignStatus.DRAFT: "brouillon",
    CampaignStatus.PENDING_APPROVAL: "en attente d'approbation",
    CampaignStatus.SCHEDULED: "programmée",
    CampaignStatus.SENDING: "en cours d'envoi",
    CampaignStatus.DONE: "terminée",
    CampaignStatus.CANCELLED: "annulée",
}


class CampaignError(Exception):
    """A campaign request that cannot be carried out; `message` is French, shown as is."""

    status_code = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CampaignNotFound(CampaignError):
    status_code = 404


class CampaignForbidden(CampaignError):
    status_code = 403


class InvalidTransition(CampaignError):
    """The campaign's status does not allow this action now."""

    status_code = 409


def _require(user: StaffUser, role: Role, action: str) -> None:
    if not user.role_enum.allows(role):
        raise CampaignForbidden(f"{action}: action réservée au rôle {role.value} ou supérieur")


def _expect(campaign: Campaign, allowed: set[CampaignStatus], action: str) -> None:
    if campaign.status not in allowed:
        label = STATUS_LABELS.get(CampaignStatus(campaign.status), campaign.status)
        raise InvalidTransition(f"impossible de {action} une campagne {label}")


def _audit(
    session: Session,
    campaign: Campaign,
    action: str,
    *,
    user: StaffUser | None,
    detail: dict[str, Any] | None = None,
) -> None:
    record(
        session,
        action=f"campaign.{action}",
        user=user,
        object_type="campaign",
        object_id=campaign.id,
        detail={"status": campaign.status, **(detail or {})},
    )


def _sees(session: Session, user: StaffUser | None, campaign: Campaign) -> bool:
    # A campaign belongs to the sites of its audience: a user limited to some sites sees
    # those that address only women of hers, never one that reaches further.
    from outreach.accounts import scopes

    return user is None or scopes.covers_sites(
        session, user=user, site_ids=(campaign.audience or {}).get("site_ids")
    )


def get(
    session: Session, *, campaign_id: int, lock: bool = False, user: StaffUser | None = None
) -> Campaign:
    """One campaign (locked for update when `lock`), or CampaignNotFound, also when it
    addresses sites outside the user's."""
    statement = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        statement = statement.with_for_update()
    campaign = session.exec(statement.execution_options(populate_existing=True)).first()
    if campaign is None or not _sees(session, user, campaign):
        raise CampaignNotFound(f"campagne {campaign_id} introuvable")
    return campaign


def list_campaigns(
    session: Session,
    *,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
    user: StaffUser | None = None,
) -> tuple[list[Campaign], int]:
    """A page of campaigns the user may see, newest first, and how many match in all."""
    from outreach.accounts import scopes

    conditions: list[Any] = [] if status is None else [col(Campaign.status) == status]
    if user is not None and scopes.villages(session, user=user) is not None:
        # Audiences are JSON, and a programme has hundreds of campaigns, not millions:
        # the visible ids are worked out here and the page is cut from them in SQL.
        audiences = session.exec(select(Campaign.id, Campaign.audience).where(*conditions))
        visible = [
            campaign_id
            for campaign_id, audience in audiences
            if scopes.covers_sites(session, user=user, site_ids=(audience or {}).get("site_ids"))
        ]
        conditions.append(col(Campaign.id).in_(visible or [-1]))
    total = session.exec(select(func.count()).select_from(Campaign).where(*conditions)).one()
    rows = session.exec(
        select(Campaign)
        .where(*conditions)
        .order_by(col(Campaign.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), int(total)


def _apply(campaign: Campaign, draft: CampaignIn) -> None:
    campaign.name = draft.name
    campaign.texts = dict(draft.texts) if draft.texts else None
    campaign.content_key = draft.content_key
    campaign.audience = draft.audience.model_dump()
    campaign.send_at = draft.send_at
    campaign.weekly_until = draft.weekly_until
    campaign.updated_at = utcnow()


def check_audience(session: Session, *, user: StaffUser, site_ids: list[int]) -> None:
    """Refuse an audience reaching women outside the user's sites (CampaignForbidden)."""
    from outreach.accounts import scopes
    from outreach.sites.models import Site

    if scopes.covers_sites(session, user=user, site_ids=site_ids):
        return
    if not site_ids:
        raise CampaignForbidden("votre compte est limité à certains lieux: choisissez-en un")
    first = scopes.sites_outside(session, user=user, site_ids=site_ids)[0]
    site = session.get(Site, first)
    raise CampaignForbidden(f"le lieu {site.name if site else first} est hors de vos sites")


def create(session: Session, *, user: StaffUser, draft: CampaignIn) -> Campaign:
    """A new draft campaign (officer or above)."""
    _require(user, Role.officer, "créer une campagne")
    check_audience(session, user=user, site_ids=draft.audience.site_ids)
    assert user.id is not None
    campaign = Campaign(name=draft.name, created_by_id=user.id)
    _apply(campaign, draft)
    session.add(campaign)
    session.flush()
    _audit(session, campaign, "create", user=user, detail={"name": campaign.name})
    return campaign


def update(session: Session, *, user: StaffUser, campaign_id: int, draft: CampaignIn) -> Campaign:
    """Change a draft (officer or above); only drafts change, so what was approved is sent."""
    _require(user, Role.officer, "modifier une campagne")
    check_audience(session, user=user, site_ids=draft.audience.site_ids)
    campaign = get(session, campaign_id=campaign_id, lock=True, user=user)
    _expect(campaign, {CampaignStatus.DRAFT}, "modifier")
    _apply(campaign, draft)
    session.add(campaign)
    _audit(session, campaign, "update", user=user, detail={"name": campaign.name})
    return campaign


def message_of(campaign: Campaign) -> PreflightIn:
    """The campaign's message and audience, as the preflight and the materialisation read them."""
    return PreflightIn.model_validate(
        {
            "texts": campaign.texts,
            "content_key": campaign.content_key,
            "audience": campaign.audience,
        }
    )


def submit(session: Session, *, user: StaffUser, campaign_id: int) -> Campaign:
    """Send a draft for approval (officer or above)."""
    _require(user, Role.officer, "soumettre une campagne")
    campaign = get(session, campaign_id=campaign_id, lock=True, user=user)
    _expect(campaign, {CampaignStatus.DRAFT}, "soumettre")
    if not message_of(campaign).has_message:
        raise CampaignError(
            "la campagne n'a pas de message: écrivez un texte ou choisissez un contenu"
        )
    now = utcnow()
    if campaign.send_at is not None and campaign.send_at <= now:
        raise CampaignError("l'heure d'envoi prévue est déjà passée: choisissez-en une autre")
    campaign.status = CampaignStatus.PENDING_APPROVAL
    campaign.submitted_by_id = user.id
    campaign.submitted_at = now
    campaign.rejection_reason = None
    campaign.updated_at = now
    session.add(campaign)
    _audit(session, campaign, "submit", user=user)
    return campaign


def approve(session: Session, *, user: StaffUser, campaign_id: int) -> Campaign:
    """Approve a submitted campaign (manager or above, never its author or submitter).

    A campaign with a send time is scheduled for it; one to send "now" waits for a
    manager's start.
    """
    _require(user, Role.manager, "approuver une campagne")
    campaign = get(session, campaign_id=campaign_id, lock=True, user=user)
    _expect(campaign, {CampaignStatus.PENDING_APPROVAL}, "approuver")
    if user.id in (campaign.created_by_id, campaign.submitted_by_id):
        raise CampaignForbidden(
            "vous ne pouvez pas approuver une campagne que vous avez rédigée ou soumise: "
            "un autre responsable doit l'approuver"
        )
    now = utcnow()
    campaign.status = CampaignStatus.SCHEDULED
    campaign.approved_by_id = user.id
    campaign.approved_at = now
    campaign.next_run_at = campaign.send_at
    campaign.updated_at = now
    session.add(campaign)
    _audit(session, campaign, "approve", user=user)
    if campaign.send_at is not None:
        after_commit(session, wake_tick)
    return campaign


def reject(session: Session, *, user: StaffUser, campaign_id: int, reason: str) -> Campaign:
    """Send a submitted campaign back to draft with a reason (manager or above)."""
    _require(user, Role.manager, "refuser une campagne")
    reason = reason.strip()
    if not reason:
        raise CampaignError("indiquez la raison du refus")
    campaign = get(session, campaign_id=campaign_id, lock=True, user=user)
    _expect(campaign, {CampaignStatus.PENDING_APPROVAL}, "refuser")
    campaign.status = CampaignStatus.DRAFT
    campaign.rejection_reason = reason
    campaign.submitted_by_id = None
    campaign.submitted_at = None
    campaign.updated_at = utcnow()
    session.add(campaign)
    _audit(session, campaign, "reject", user=user, detail={"reason": reason[:200]})
    return campaign


def start(session: Session, *, user: StaffUser, campaign_id: int) -> Campaign:
    """Start the next run of an approved campaign now (manager or above)."""
    _require(user, Role.manager, "lancer une campagne")
    campaign = get(session, campaign_id=campaign_id, lock=True, user=user)
    _expect(campaign, {CampaignStatus.SCHEDULED}, "lancer")
    now = utcnow()
    if campaign.send_at is None or campaign.send_at > now:
        # "Now" becomes the weekly time: later runs follow a week apart from it.
        campaign.send_at = now
    _begin_run(session, campaign, due_at=now, now=now)
    _audit(session, campaign, "start", user=user, detail={"run": campaign.runs})
    return campaign


def schedule(
    session: Session,
    *,
    user: StaffUser,
    campaign_id: int,
    send_at: datetime,
    weekly_until: date | None = None,
) -> Campaign:
    """Set when an approved campaign's next run starts, and optionally repeat it weekly."""
    _require(user, Role.manager, "programmer une campagne")
    campaign = get(session, campaign_id=campaign_id, lock=True, user=user)
    _expect(campaign, {CampaignStatus.SCHEDULED}, "programmer")
    now = utcnow()
    if send_at <= now - timedelta(minutes=1):
        raise CampaignError("l'heure d'envoi est déjà passée: choisissez-en une autre")
    if weekly_until is not None and weekly_until < _local(send_at).date():
        raise CampaignError("la fin des envois hebdomadaires précède le premier envoi")
    campaign.send_at = send_at
    campaign.weekly_until = weekly_until
    campaign.next_run_at = send_at
    campaign.updated_at = now
    session.add(campaign)
    _audit(
        session,
        campaign,
        "schedule",
        user=user,
        detail={"send_at": send_at.isoformat(), "weekly_until": str(weekly_until or "")},
    )
    after_commit(session, wake_tick)
    return campaign


def cancel(session: Session, *, user: StaffUser, campaign_id: int) -> tuple[Campaign, int]:
    """Cancel a campaign: its rows not yet handed to the gateway, and every future run.

    Officers may cancel drafts and submissions; a scheduled or sending campaign needs a
    manager. Returns the campaign and the number of outbox rows cancelled.
    """
    _require(user, Role.officer, "annuler une campagne")
    # Locked first: a materialisation batch holds this lock while it inserts, so the
    # outbox update below sees every row a batch committed, and no batch runs after it.
    campaign = get(session, campaign_id=campaign_id, lock=True, user=user)
    _expect(
        campaign,
        {
            CampaignStatus.DRAFT,
            CampaignStatus.PENDING_APPROVAL,
            CampaignStatus.SCHEDULED,
            CampaignStatus.SENDING,
        },
        "annuler",
    )
    if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        _require(user, Role.manager, "annuler une campagne programmée")
    now = utcnow()
    campaign.status = CampaignStatus.CANCELLED
    campaign.next_run_at = None
    campaign.cancelled_at = now
    campaign.updated_at = now
    session.add(campaign)
    session.flush()
    # Rows being sent (`sending`) are in a gateway call already: they finish as they will.
    result = session.execute(
        sql_update(OutboundMessage)
        .where(
            col(OutboundMessage.campaign_id) == campaign_id,
            col(OutboundMessage.status).in_([MessageStatus.QUEUED, MessageStatus.DEFERRED]),
        )
        .values(
            status=MessageStatus.CANCELLED,
            failure_reason=CANCEL_REASON,
            final_at=now,
            updated_at=now,
        )
    )
    cancelled = int(getattr(result, "rowcount", 0) or 0)
    if cancelled:
        event = [metrics.transition(MessageStatus.CANCELLED, CANCEL_REASON, cancelled)]
        after_commit(session, lambda: metrics.record(event))
    session.execute(
        sql_update(CampaignRun)
        .where(col(CampaignRun.campaign_id) == campaign_id, col(CampaignRun.finished_at).is_(None))
        .values(finished_at=now)
    )
    _audit(session, campaign, "cancel", user=user, detail={"messages_cancelled": cancelled})
    return campaign, cancelled


# --- runs --------------------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(get_settings().timezone))


def next_weekly(campaign: Campaign, *, after: datetime) -> datetime | None:
    """The run a week after `after` at the same local time, if still within `weekly_until`."""
    if campaign.weekly_until is None:
        return None
    local = _local(after)
    following = (local.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=local.tzinfo)
    if following.date() > campaign.weekly_until:
        return None
    return following.astimezone(after.tzinfo)


def current_run(session: Session, *, campaign_id: int) -> CampaignRun | None:
    """The latest run of a campaign."""
    return session.exec(
        select(CampaignRun)
        .where(CampaignRun.campaign_id == campaign_id)
        .order_by(col(CampaignRun.number).desc())
        .limit(1)
        .execution_options(populate_existing=True)
    ).first()


def _begin_run(session: Session, campaign: Campaign, *, due_at: datetime, now: datetime) -> None:
    assert campaign.id is not None
    campaign.runs += 1
    campaign.status = CampaignStatus.SENDING
    campaign.next_run_at = next_weekly(campaign, after=due_at)
    campaign.updated_at = now
    session.add(campaign)
    session.add(
        CampaignRun(
            campaign_id=campaign.id,
            number=campaign.runs,
            due_at=due_at,
            started_at=now,
            heartbeat_at=now,
        )
    )
    session.flush()
    campaign_id = campaign.id
    after_commit(session, lambda: publish_materialise(campaign_id))


def publish_materialise(campaign_id: int) -> None:
    """Ask a worker to insert the current run's recipients (best effort: the tick retries)."""
    from workers.app import celery_app

    celery_app.send_task(MATERIALISE_TASK, args=[campaign_id], queue=QUEUE)


def wake_tick() -> None:
    """Run the tick now rather than at beat's next beat (best effort)."""
    from workers.app import celery_app

    celery_app.send_task(TICK_TASK, queue=QUEUE)


# Rows that may still move towards the gateway or hear back from it.
_OPEN = [MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING]


def _unsettled(campaign_id: int, now: datetime) -> Any:
    # A `sent` row waits for its delivery report, but not forever: after the configured
    # wait it no longer holds the campaign open (AT does not always report).
    waited = now - timedelta(hours=get_settings().campaign_report_wait_hours)
    return (
        select(OutboundMessage.id)
        .where(
            col(OutboundMessage.campaign_id) == campaign_id,
            or_(
                col(OutboundMessage.status).in_(_OPEN),
                (col(OutboundMessage.status) == MessageStatus.SENT)
                & (col(OutboundMessage.sent_at) > waited),
            ),
        )
        .limit(1)
    )


@dataclass(slots=True)
class TickResult:
    started: list[int] = field(default_factory=list)
    republished: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)


def tick(session: Session, *, now: datetime | None = None) -> TickResult:
    """Start due runs, re-publish stalled materialisations, and close finished runs."""
    now = now or utcnow()
    result = TickResult()
    due = session.exec(
        select(Campaign)
        .where(
            col(Campaign.status).in_([CampaignStatus.SCHEDULED, CampaignStatus.SENDING]),
            col(Campaign.next_run_at) <= now,
        )
        .order_by(col(Campaign.next_run_at))
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in due:
        assert campaign.next_run_at is not None and campaign.id is not None
        _begin_run(session, campaign, due_at=campaign.next_run_at, now=now)
        _audit(session, campaign, "run_start", user=None, detail={"run": campaign.runs})
        result.started.append(campaign.id)
    sending = session.exec(
        select(Campaign)
        .where(col(Campaign.status) == CampaignStatus.SENDING)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in sending:
        assert campaign.id is not None
        if campaign.id in result.started:
            continue
        run = current_run(session, campaign_id=campaign.id)
        if run is None:
            continue
        if run.materialised_at is None:
            if run.heartbeat_at < now - STALE_RUN:
                run.heartbeat_at = now
                session.add(run)
                campaign_id = campaign.id
                after_commit(session, lambda c=campaign_id: publish_materialise(c))  # type: ignore[misc]
                result.republished.append(campaign.id)
            continue
        if session.exec(_unsettled(campaign.id, now)).first() is not None:
            continue
        run.finished_at = now
        session.add(run)
        campaign.status = CampaignStatus.SCHEDULED if campaign.next_run_at else CampaignStatus.DONE
        if campaign.status == CampaignStatus.DONE:
            campaign.finished_at = now
        campaign.updated_at = now
        session.add(campaign)
        _audit(session, campaign, "run_done", user=None, detail={"run": run.number})
        result.finished.append(campaign.id)
    return result


# --- progress ------------------------------------------------------------------------


def progress(
    session: Session, *, campaign_id: int, user: StaffUser | None = None
) -> dict[str, Any]:
    """Counts of the campaign's outbox rows by state (one grouped query) and percent complete."""
    campaign = get(session, campaign_id=campaign_id, user=user)
    rows = session.exec(
        select(OutboundMessage.status, OutboundMessage.failure_reason, func.count())
        .where(col(OutboundMessage.campaign_id) == campaign_id)
        .group_by(col(OutboundMessage.status), col(OutboundMessage.failure_reason))
    ).all()
    counts: dict[str, int] = defaultdict(int)
    failed_by_reason: dict[str, int] = defaultdict(int)
    cancelled_by_reason: dict[str, int] = defaultdict(int)
    for status, reason, count in rows:
        counts[status] += count
        if status in (MessageStatus.FAILED, MessageStatus.REJECTED, MessageStatus.EXPIRED):
            failed_by_reason[reason or status] += count
        elif status == MessageStatus.CANCELLED:
            cancelled_by_reason[reason or "cancelled"] += count
    total = sum(counts.values())
    waiting = sum(counts[s] for s in _OPEN)
    failed = sum(failed_by_reason.values())
    settled = (
        counts[MessageStatus.DELIVERED]
        + failed
        + counts[MessageStatus.CANCELLED]
        + counts[MessageStatus.UNKNOWN]
    )
    run = current_run(session, campaign_id=campaign_id)
    return {
        "campaign_id": campaign_id,
        "status": campaign.status,
        "runs": campaign.runs,
        "materialised": bool(run and run.materialised_at),
        "total": total,
        "queued": counts[MessageStatus.QUEUED] + counts[MessageStatus.DEFERRED],
        "sending": counts[MessageStatus.SENDING],
        "sent": counts[MessageStatus.SENT],
        "delivered": counts[MessageStatus.DELIVERED],
        "failed": failed,
        "failed_by_reason": dict(failed_by_reason),
        "cancelled": counts[MessageStatus.CANCELLED],
        "cancelled_by_reason": dict(cancelled_by_reason),
        "unknown": counts[MessageStatus.UNKNOWN],
        "percent_complete": round(100 * settled / total, 1) if total else 0.0,
        # No longer waiting for the gateway: handed to it, or settled without it.
        "percent_sent": round(100 * (total - waiting) / total, 1) if total else 0.0,
        "percent_delivered": round(100 * counts[MessageStatus.DELIVERED] / total, 1)
        if total
        else 0.0,
    }
