"""Registry rules: name matching, duplicates, transfers, stopping on a shared phone."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from outreach.outbox.models import MessageStatus, OutboundMessage
from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.registry.models import (
    Beneficiary,
    BeneficiaryStatus,
    PhoneKind,
    SelfRegistration,
    Transfer,
)
from outreach.sites.models import Site
from outreach.timeutil import local_today


def test_names_are_compared_without_case_accents_or_spelling_noise() -> None:
    # Given names as two people would type them
    # Then spellings of one name match and different people do not
    assert registry_service.normalise_name("  AWA   Traoré ") == "awa traore"
    assert registry_service.similar_names("Awa Traore", "Aoua Traoré")
    assert registry_service.similar_names("Traore Awa", "awa traore")
    assert not registry_service.similar_names("Awa Traore", "Fatoumata Diarra")
    assert not registry_service.similar_names("Awa Traore", "Awa Diarra")


def test_duplicates_by_phone_or_by_village_and_edd(db) -> None:
    # Given Awa on a phone in Pelengana, at 20 weeks
    village = db.exec(select(Site)).first()
    if village is None:
        village = Site(name="Pelengana", level="village")
        db.add(village)
        db.flush()
    awa = registry_service.register_pregnancy(
        db, name="Awa Traore", phone="+22370123456", weeks=20, chw_id=None, village_id=village.id
    ).beneficiary
    edd = local_today() + timedelta(weeks=20)
    # Then the same phone and a similar name is a duplicate, whatever the village
    found = registry_service.find_duplicates(
        db, name="Aoua Traore", phone="+22370123456", village_id=None, anchor=None
    )
    assert [b.id for b in found] == [awa.id]
    # And the same village, a similar name and an EDD 3 weeks apart too
    found = registry_service.find_duplicates(
        db, name="Awa Traore", phone=None, village_id=village.id, anchor=edd + timedelta(weeks=3)
    )
    assert [b.id for b in found] == [awa.id]
    # But not 5 weeks apart, nor another name on the same phone
    assert not registry_service.find_duplicates(
        db, name="Awa Traore", phone=None, village_id=village.id, anchor=edd + timedelta(weeks=5)
    )
    assert not registry_service.find_duplicates(
        db, name="Mariam Keita", phone="+22370123456", village_id=village.id, anchor=edd
    )


def test_transfer_records_from_and_to_and_keeps_the_rest(db) -> None:
    # Given Awa followed by nobody, then taken over
    from outreach.chws import service as chw_service

    sites = [Site(name=f"Village {i}", level="village") for i in range(2)]
    db.add_all(sites)
    db.flush()
    first = chw_service.add(db, name="A", phone="+22370000011", pin="1111", site_ids=[])
    second = chw_service.add(db, name="B", phone="+22370000012", pin="2222", site_ids=[])
    awa = registry_service.register_pregnancy(
        db, name="Awa Traore", phone=None, weeks=12, chw_id=first.id, village_id=sites[0].id
    ).beneficiary
    assert awa.id is not None and second.id is not None
    # When the second CHW takes her over in another village
    registry_service.transfer(
        db, beneficiary_id=awa.id, to_chw_id=second.id, to_village_id=sites[1].id
    )
    # Then the move says from whom and where to whom and where, and she follows
    move = db.exec(select(Transfer)).one()
    assert (move.from_chw_id, move.to_chw_id) == (first.id, second.id)
    assert (move.from_village_id, move.to_village_id) == (sites[0].id, sites[1].id)
    assert (awa.chw_id, awa.village_id, awa.code) == (second.id, sites[1].id, awa.code)


def test_stop_on_a_shared_phone_cancels_only_her_messages(db) -> None:
    # Given two women on one shared phone, each with a queued welcome
    women = [
        registry_service.register_pregnancy(
            db,
            name=name,
            phone="+22370123456",
            weeks=20,
            chw_id=None,
            phone_kind=PhoneKind.SHARED,
        ).beneficiary
        for name in ("Awa Traore", "Fatou Traore")
    ]
    # When the first stops
    assert women[0].id is not None
    registry_service.opt_out_beneficiary(db, beneficiary_id=women[0].id)
    # Then only her record and her messages stop
    statuses = {m.beneficiary_id: m.status for m in db.exec(select(OutboundMessage))}
    assert statuses == {women[0].id: MessageStatus.CANCELLED, women[1].id: MessageStatus.QUEUED}
    assert women[0].status == BeneficiaryStatus.OPTED_OUT
    assert women[1].status == BeneficiaryStatus.ACTIVE


def test_self_registration_then_confirmation_by_a_chw(db) -> None:
    # Given a woman who registered herself with a 4-month-old baby
    from outreach.chws import service as chw_service

    chw = chw_service.add(db, name="A", phone="+22370000011", pin="1111", site_ids=[])
    pending = registry_service.self_register(
        db, phone="70123456", name="Bintou Dembele", language="bm", child_months=4
    )
    assert pending.status == BeneficiaryStatus.PENDING and pending.id is not None
    row = db.exec(select(SelfRegistration)).one()
    assert row.kind == "infant" and row.stated_child_months == 4
    # When a CHW confirms her
    assert chw.id is not None
    registry_service.confirm_pending(db, beneficiary_id=pending.id, chw_id=chw.id)
    # Then she is active with the CHW, her baby's estimated birth date is kept
    woman = db.get(Beneficiary, pending.id)
    assert woman is not None and woman.status == BeneficiaryStatus.ACTIVE
    assert woman.chw_id == chw.id
    assert row.confirmed_by_chw_id == chw.id and row.confirmed_at is not None


def test_masks_for_logs() -> None:
    # Given a phone and a name
    # Then logs keep only what helps debugging
    assert phones.mask("+22370123456") == "+223******56"
    assert phones.mask_name("Awa Traore") == "A.T."
    assert phones.national("+22370123456") == "70 12 34 56"
