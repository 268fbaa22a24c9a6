"""The campaign workflow: who may do what, in which state, and the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from campaign_helpers import draft
from sqlmodel import Session, col, select

from outreach.audit.models import AuditEntry
from outreach.campaigns import service
from outreach.campaigns.models import CampaignRun, CampaignStatus
from outreach.timeutil import utcnow


def actions(db: Session, campaign_id: int) -> list[str]:
    return list(
        db.exec(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "campaign", AuditEntry.object_id == str(campaign_id))
            .order_by(col(AuditEntry.id))
        ).all()
    )


def test_officer_drafts_manager_approves_and_every_step_is_audited(db: Session, staff) -> None:
    # Given an officer's draft
    campaign = service.create(db, user=staff.officer, draft=draft())
    assert campaign.id is not None and campaign.status == CampaignStatus.DRAFT
    # When she edits it and submits it, and another user, a manager, approves it
    service.update(db, user=staff.officer, campaign_id=campaign.id, draft=draft(name="Hygiène 2"))
    service.submit(db, user=staff.officer, campaign_id=campaign.id)
    service.approve(db, user=staff.manager, campaign_id=campaign.id)
    db.commit()
    # Then it is scheduled, waiting for a start, with who did what
    assert campaign.status == CampaignStatus.SCHEDULED and campaign.name == "Hygiène 2"
    assert campaign.next_run_at is None
    assert (campaign.created_by_id, campaign.submitted_by_id, campaign.approved_by_id) == (
        staff.officer.id,
        staff.officer.id,
        staff.manager.id,
    )
    # And when the manager starts it, a run begins
    service.start(db, user=staff.manager, campaign_id=campaign.id)
    db.commit()
    assert campaign.status == CampaignStatus.SENDING and campaign.runs == 1
    assert actions(db, campaign.id) == [
        "campaign.create",
        "campaign.update",
        "campaign.submit",
        "campaign.approve",
        "campaign.start",
    ]


def test_nobody_approves_their_own_campaign(db: Session, staff) -> None:
    # Given a manager who drafted a campaign, and one submitted by another manager
    own = service.create(db, user=staff.manager, draft=draft())
    assert own.id is not None
    service.submit(db, user=staff.manager, campaign_id=own.id)
    submitted = service.create(db, user=staff.officer, draft=draft())
    assert submitted.id is not None
    service.submit(db, user=staff.manager2, campaign_id=submitted.id)
    # When each tries to approve a campaign they wrote or submitted
    # Then it is refused with a clear French message
    with pytest.raises(service.CampaignForbidden, match="un autre responsable"):
        service.approve(db, user=staff.manager, campaign_id=own.id)
    with pytest.raises(service.CampaignForbidden, match="rédigée ou soumise"):
        service.approve(db, user=staff.manager2, campaign_id=submitted.id)
    # And another manager may
    assert service.approve(db, user=staff.manager2, campaign_id=own.id).status == "scheduled"


def test_roles_are_checked_by_the_service_itself(db: Session, staff) -> None:
    # Given a submitted campaign
    campaign = service.create(db, user=staff.officer, draft=draft())
    assert campaign.id is not None
    # Then a viewer cannot draft, and an officer cannot approve, reject or start
    with pytest.raises(service.CampaignForbidden):
        service.create(db, user=staff.viewer, draft=draft())
    service.submit(db, user=staff.officer, campaign_id=campaign.id)
    for act in (service.approve, service.start):
        with pytest.raises(service.CampaignForbidden, match="manager"):
            act(db, user=staff.officer2, campaign_id=campaign.id)
    with pytest.raises(service.CampaignForbidden):
        service.reject(db, user=staff.officer2, campaign_id=campaign.id, reason="non")


def test_reject_sends_it_back_to_draft_with_the_reason(db: Session, staff) -> None:
    # Given a submitted campaign
    campaign = service.create(db, user=staff.officer, draft=draft())
    assert campaign.id is not None
    service.submit(db, user=staff.officer, campaign_id=campaign.id)
    # When a manager rejects it
    service.reject(db, user=staff.manager, campaign_id=campaign.id, reason="Vérifier la date")
    # Then it is a draft again, editable, with the reason shown
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.rejection_reason == "Vérifier la date"
    assert campaign.submitted_by_id is None
    service.update(db, user=staff.officer, campaign_id=campaign.id, draft=draft(name="Corrigée"))
    assert "campaign.reject" in actions(db, campaign.id)


def test_invalid_transitions_are_refused(db: Session, staff) -> None:
    # Given a draft and a scheduled campaign
    campaign = service.create(db, user=staff.officer, draft=draft())
    assert campaign.id is not None
    cid = campaign.id
    # Then a draft cannot be approved, rejected or started
    with pytest.raises(service.InvalidTransition, match="brouillon"):
        service.approve(db, user=staff.manager, campaign_id=cid)
    with pytest.raises(service.InvalidTransition):
        service.reject(db, user=staff.manager, campaign_id=cid, reason="x")
    with pytest.raises(service.InvalidTransition):
        service.start(db, user=staff.manager, campaign_id=cid)
    # And once submitted it can no longer be edited nor submitted again
    service.submit(db, user=staff.officer, campaign_id=cid)
    with pytest.raises(service.InvalidTransition, match="modifier"):
        service.update(db, user=staff.officer, campaign_id=cid, draft=draft())
    with pytest.raises(service.InvalidTransition):
        service.submit(db, user=staff.officer, campaign_id=cid)
    # And a cancelled campaign stays cancelled
    service.cancel(db, user=staff.officer, campaign_id=cid)
    with pytest.raises(service.InvalidTransition, match="annulée"):
        service.cancel(db, user=staff.manager, campaign_id=cid)
    with pytest.raises(service.CampaignNotFound):
        service.submit(db, user=staff.officer, campaign_id=9999)


def test_a_campaign_without_message_cannot_be_submitted(db: Session, staff) -> None:
    # Given a draft saved before its text was written
    campaign = service.create(db, user=staff.officer, draft=draft(texts=None))
    assert campaign.id is not None
    # When it is submitted / Then it is refused
    with pytest.raises(service.CampaignError, match="pas de message"):
        service.submit(db, user=staff.officer, campaign_id=campaign.id)


def test_cancelling_a_scheduled_campaign_needs_a_manager(
    db: Session, staff, approved_campaign
) -> None:
    # Given an approved campaign
    campaign = approved_campaign()
    # When an officer cancels it / Then only a manager may
    with pytest.raises(service.CampaignForbidden, match="manager"):
        service.cancel(db, user=staff.officer, campaign_id=campaign.id)
    cancelled, _ = service.cancel(db, user=staff.manager, campaign_id=campaign.id)
    assert cancelled.status == CampaignStatus.CANCELLED and cancelled.next_run_at is None


def test_a_scheduled_time_is_set_at_approval_and_the_tick_starts_it(db: Session, staff) -> None:
    # Given a campaign for a time in an hour, approved
    at = utcnow() + timedelta(hours=1)
    campaign = service.create(db, user=staff.officer, draft=draft(send_at=at.isoformat()))
    assert campaign.id is not None
    service.submit(db, user=staff.officer, campaign_id=campaign.id)
    service.approve(db, user=staff.manager, campaign_id=campaign.id)
    db.commit()
    assert campaign.next_run_at == at
    # When the tick runs before that time, nothing starts; at that time, its run does
    assert service.tick(db, now=at - timedelta(seconds=1)).started == []
    assert service.tick(db, now=at).started == [campaign.id]
    db.commit()
    db.refresh(campaign)
    assert campaign.status == CampaignStatus.SENDING and campaign.next_run_at is None
    # And the next tick does not start it twice
    assert service.tick(db, now=at + timedelta(seconds=5)).started == []


def test_a_local_time_without_zone_is_bamako_time(db: Session, staff) -> None:
    # Given a send time typed without a zone
    # When the draft is read
    body = draft(send_at="2030-03-05T09:30:00", weekly_until="2030-04-30")
    # Then it is 09:30 in Bamako (UTC+0 all year)
    assert body.send_at == datetime(2030, 3, 5, 9, 30, tzinfo=UTC)
    assert body.weekly_until == date(2030, 4, 30)


def test_schedule_refuses_a_past_time(db: Session, staff, approved_campaign) -> None:
    # Given an approved campaign
    campaign = approved_campaign()
    # When a manager schedules it in the past / Then it is refused
    with pytest.raises(service.CampaignError, match="passée"):
        service.schedule(
            db, user=staff.manager, campaign_id=campaign.id, send_at=utcnow() - timedelta(hours=1)
        )
    # And a future time sets the next run
    at = utcnow() + timedelta(days=1)
    service.schedule(db, user=staff.manager, campaign_id=campaign.id, send_at=at)
    assert campaign.next_run_at == at
    assert db.exec(select(CampaignRun)).all() == []
