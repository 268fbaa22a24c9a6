"""Runs: recipients into the outbox in batches, never twice; cancel, weekly runs, progress."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from outreach.campaigns import materialise, service
from outreach.campaigns.models import Campaign, CampaignRun, CampaignStatus
from outreach.campaigns.preflight import preflight
from outreach.campaigns.schemas import CampaignIn
from outreach.config import get_settings
from outreach.outbox import service as outbox
from outreach.outbox.models import MessageKind, MessageStatus, OutboundMessage, Priority
from outreach.registry.models import PhoneKind
from outreach.timeutil import utcnow


def rows(db: Session, campaign_id: int) -> list[OutboundMessage]:
    db.expire_all()
    return list(
        db.exec(
            select(OutboundMessage)
            .where(OutboundMessage.campaign_id == campaign_id)
            .order_by(col(OutboundMessage.id))
        ).all()
    )


def started(db: Session, staff, campaign: Campaign) -> int:
    assert campaign.id is not None
    service.start(db, user=staff.manager, campaign_id=campaign.id)
    db.commit()
    return campaign.id


def noon_tomorrow() -> datetime:
    # Inside the default send window, whatever time the suite runs.
    zone = ZoneInfo(get_settings().timezone)
    local = (datetime.now(zone) + timedelta(days=1)).replace(hour=12, minute=0)
    return local.astimezone(ZoneInfo("UTC"))


def settle(db: Session, campaign_id: int, status: str = MessageStatus.DELIVERED) -> None:
    db.execute(
        update(OutboundMessage)
        .where(col(OutboundMessage.campaign_id) == campaign_id)
        .values(status=status, final_at=utcnow())
    )
    db.commit()


def test_recipients_are_inserted_in_batches_at_the_bulk_lane_never_twice(
    db: Session, staff, places, woman, chw_relay, approved_campaign
) -> None:
    # Given 12 reachable women (one on a shared phone, one relayed by her CHW) and
    # three who must not be reached
    for i in range(10):
        woman(places.village_a, name=f"Awa{i} Traoré", language="bm" if i % 3 == 0 else "fr")
    woman(places.village_b, name="Fanta Diarra", phone_kind=PhoneKind.SHARED)
    woman(places.village_b, name="Kadia Sangaré", phone_kind=PhoneKind.NONE, chw=chw_relay)
    woman(places.village_a, status="opted_out")
    woman(places.village_a, phone_status="opted_out")
    woman(places.village_far)
    campaign_id = started(
        db,
        staff,
        approved_campaign(
            texts={"fr": "Bonjour {prenom}, séance jeudi à {site}.", "bm": "I ni ce {prenom}."},
            audience={"site_ids": [places.region.id]},
        ),
    )

    # When the run is materialised in batches of 4 beneficiaries
    result = materialise.run(campaign_id, batch_size=4)

    # Then every reachable woman has one row, at the campaign lane, tagged and keyed by run
    assert result.inserted == 12 and result.batches == 4 and result.skipped is None
    sent = rows(db, campaign_id)
    assert len(sent) == 12
    assert {(m.kind, m.priority, m.status) for m in sent} == {
        (MessageKind.CAMPAIGN, int(Priority.CAMPAIGN), MessageStatus.QUEUED)
    }
    assert all(m.dedupe_key == f"camp:{campaign_id}:1:{m.beneficiary_id}" for m in sent)
    # (stored with markers where the names go; each read as it is sent)
    assert not any("Fanta" in m.body or "Awa" in m.body for m in sent)
    bodies = {m.rendered for m in sent}
    assert "Bonjour Awa1, séance jeudi à Sébougou." in bodies
    assert "I ni ce Awa0." in bodies
    assert "Pour Fanta Diarra: Bonjour Fanta, séance jeudi à Dar Salam." in bodies
    assert "Pour Kadia Sangaré: Bonjour Kadia, séance jeudi à Dar Salam." in bodies
    run = db.exec(select(CampaignRun)).one()
    assert run.materialised_at is not None and run.recipients == 12

    # And a repeated task returns at once
    assert materialise.run(campaign_id).skipped == "done"
    # And a run that died before it was marked done inserts nothing twice when redone
    db.execute(update(CampaignRun).values(materialised_at=None, recipients=0))
    db.commit()
    again = materialise.run(campaign_id, batch_size=5)
    assert again.inserted == 0 and again.skipped is None
    assert len(rows(db, campaign_id)) == 12


def test_the_preflight_count_is_the_count_sent(
    db: Session, staff, places, woman, approved_campaign
) -> None:
    # Given displaced and settled women at various stages
    for weeks, displaced in ((18, True), (22, True), (28, False), (29, True), (35, True)):
        woman(places.village_a, weeks=weeks, displaced=displaced)
    audience = {"programme": "pregnancy", "stage_from": 20, "stage_to": 30, "displaced": True}
    campaign = approved_campaign(audience=audience)
    # When its preflight is read and the campaign then runs
    expected = preflight(db, draft=service.message_of(campaign)).recipients
    campaign_id = started(db, staff, campaign)
    materialise.run(campaign_id)
    # Then the same two women are reached
    assert expected == 2
    assert len(rows(db, campaign_id)) == 2


def test_cancel_halfway_keeps_what_the_gateway_has_and_cancels_the_rest(
    db: Session, staff, places, woman, approved_campaign
) -> None:
    # Given a running campaign of 10 SMS, 4 of which a worker has claimed for the gateway
    for _ in range(10):
        woman(places.village_a)
    campaign_id = started(db, staff, approved_campaign())
    materialise.run(campaign_id)
    claimed = outbox.claim_due(db, owner="test-worker", limit=4, now=noon_tomorrow())
    db.commit()
    assert len(claimed) == 4

    # When a manager cancels it
    campaign, cancelled = service.cancel(db, user=staff.manager, campaign_id=campaign_id)
    db.commit()

    # Then the 6 waiting rows are cancelled, the 4 in the gateway's hands are untouched
    assert cancelled == 6
    statuses = [m.status for m in rows(db, campaign_id)]
    assert statuses.count(MessageStatus.CANCELLED) == 6
    assert statuses.count(MessageStatus.SENDING) == 4
    assert campaign.status == CampaignStatus.CANCELLED and campaign.next_run_at is None
    progress = service.progress(db, campaign_id=campaign_id)
    assert progress["cancelled_by_reason"] == {"campaign_cancelled": 6}
    assert progress["sending"] == 4


def test_cancel_during_materialisation_stops_the_remaining_batches(
    db: Session, staff, places, woman, approved_campaign
) -> None:
    # Given a run whose first batch is in the outbox
    people = [woman(places.village_a) for _ in range(6)]
    campaign_id = started(db, staff, approved_campaign())
    campaign = service.get(db, campaign_id=campaign_id)
    snap = materialise.snapshot(
        campaign_id, 1, texts=campaign.texts, content_key=None, audience=campaign.audience
    )
    first = materialise.insert_batch(
        db, snap=snap, id_from=people[0].id or 0, id_to=(people[2].id or 0) + 1, day=utcnow().date()
    )
    db.commit()
    assert first == 3

    # When the campaign is cancelled, then the task carries on
    service.cancel(db, user=staff.manager, campaign_id=campaign_id)
    db.commit()
    result = materialise.run(campaign_id, batch_size=2)

    # Then no further row is inserted and the three are cancelled
    assert result.skipped == "not_sending" and result.inserted == 0
    assert [m.status for m in rows(db, campaign_id)] == [MessageStatus.CANCELLED] * 3


def test_weekly_runs_until_the_end_date(db: Session, staff, places, woman) -> None:
    # Given a campaign every week for a little over two weeks, approved
    for _ in range(3):
        woman(places.village_a)
    first = utcnow() + timedelta(hours=1)
    until = (first + timedelta(days=15)).astimezone(ZoneInfo("Africa/Bamako")).date()
    campaign = service.create(
        db,
        user=staff.officer,
        draft=CampaignIn.model_validate(
            {
                "name": "Rappel hebdomadaire",
                "texts": {"fr": "Séance jeudi."},
                "send_at": first.isoformat(),
                "weekly_until": until.isoformat(),
            }
        ),
    )
    assert campaign.id is not None
    campaign_id = campaign.id
    service.submit(db, user=staff.officer, campaign_id=campaign_id)
    service.approve(db, user=staff.manager, campaign_id=campaign_id)
    db.commit()

    for week in range(3):
        due = first + timedelta(weeks=week)
        # When its time comes, the tick starts the run and it is materialised
        assert service.tick(db, now=due).started == [campaign_id]
        db.commit()
        materialise.run(campaign_id)
        db.refresh(campaign)
        assert campaign.status == CampaignStatus.SENDING and campaign.runs == week + 1
        # And while its SMS are waiting the run stays open
        assert service.tick(db, now=due + timedelta(minutes=1)).finished == []
        # When they are all delivered, the run closes: scheduled again, or done after the last
        settle(db, campaign_id)
        assert service.tick(db, now=due + timedelta(minutes=2)).finished == [campaign_id]
        db.commit()
        db.refresh(campaign)
        if week < 2:
            assert campaign.status == CampaignStatus.SCHEDULED
            assert campaign.next_run_at == first + timedelta(weeks=week + 1)
        else:
            assert campaign.status == CampaignStatus.DONE and campaign.next_run_at is None

    # Then each of the three runs reached each woman once
    keys = [m.dedupe_key for m in rows(db, campaign_id)]
    assert len(keys) == 9 == len(set(keys))
    assert {k.split(":")[2] for k in keys} == {"1", "2", "3"}


def test_a_run_waits_for_delivery_reports_but_not_forever(
    db: Session, staff, places, woman, approved_campaign
) -> None:
    # Given a run whose only SMS was accepted by the gateway and has no report yet
    woman(places.village_a)
    campaign_id = started(db, staff, approved_campaign())
    materialise.run(campaign_id)
    db.execute(
        update(OutboundMessage)
        .where(col(OutboundMessage.campaign_id) == campaign_id)
        .values(status=MessageStatus.SENT, sent_at=utcnow())
    )
    db.commit()
    # When the tick runs now, the run stays open; past the report wait, it closes
    assert service.tick(db).finished == []
    later = utcnow() + timedelta(hours=get_settings().campaign_report_wait_hours + 1)
    assert service.tick(db, now=later).finished == [campaign_id]
    db.commit()
    assert service.get(db, campaign_id=campaign_id).status == CampaignStatus.DONE


def test_progress_counts_by_state_and_failure_reason(
    db: Session, staff, places, woman, approved_campaign
) -> None:
    # Given a run of 10 SMS in every state
    for _ in range(10):
        woman(places.village_a)
    campaign_id = started(db, staff, approved_campaign())
    materialise.run(campaign_id)
    ids = [m.id for m in rows(db, campaign_id)]
    states = [
        (MessageStatus.DELIVERED, None),
        (MessageStatus.DELIVERED, None),
        (MessageStatus.DELIVERED, None),
        (MessageStatus.FAILED, "DeliveryFailure"),
        (MessageStatus.FAILED, "DeliveryFailure"),
        (MessageStatus.REJECTED, "InvalidPhoneNumber"),
        (MessageStatus.CANCELLED, "phone_opted_out"),
        (MessageStatus.SENT, None),
    ]
    for message_id, (status, reason) in zip(ids, states, strict=False):
        db.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.id) == message_id)
            .values(status=status, failure_reason=reason)
        )
    db.commit()

    # When its progress is read
    progress = service.progress(db, campaign_id=campaign_id)

    # Then each state is counted, failures by reason, and the share that is settled
    assert progress["total"] == 10
    assert (progress["queued"], progress["sent"], progress["delivered"]) == (2, 1, 3)
    assert progress["failed"] == 3
    assert progress["failed_by_reason"] == {"DeliveryFailure": 2, "InvalidPhoneNumber": 1}
    assert progress["cancelled"] == 1
    assert progress["percent_complete"] == 70.0
    assert progress["percent_sent"] == 80.0
    assert progress["percent_delivered"] == 30.0
