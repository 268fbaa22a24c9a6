"""The cost preflight: recipients, segments and XOF per language for an audience."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from outreach.programmes.costs import Audience, preflight, price_per_segment
from outreach.registry.models import Beneficiary, Phone, PhoneKind
from outreach.sites.models import Site
from outreach.timeutil import local_today

PRICES = {"ML": 25.0, "ML/Orange": 30.0, "ML/Sotelma": 20.0}
TEXTS = {"fr": "Campagne de vaccination au CSCom mardi.", "bm": "Pikiri kɛ CSCom la tarata."}


def test_price_follows_country_and_network() -> None:
    # Given prices by country and network
    # When numbers of each Malian network and of another country are priced
    # Then the network price wins, the country price covers the rest
    assert price_per_segment("+22370", PRICES) == Decimal("30.0")
    assert price_per_segment("+22366", PRICES) == Decimal("20.0")
    assert price_per_segment("+22350", PRICES) == Decimal("25.0")
    with pytest.raises(KeyError):
        price_per_segment("+22177", PRICES)


def site(db: Session, name: str, level: str, parent: Site | None = None) -> Site:
    row = Site(name=name, level=level, parent_id=parent.id if parent else None)
    db.add(row)
    db.flush()
    return row


def phone(db: Session, e164: str, status: str = "active") -> Phone:
    row = Phone(e164=e164, status=status)
    db.add(row)
    db.flush()
    return row


def test_preflight_counts_recipients_segments_and_cost_per_language(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], make_chw
) -> None:
    # Given, in one district, women at pregnancy weeks 25 and 35 and an infant, on
    # Orange and Sotelma numbers, a shared phone, a CHW relay, and women to leave out
    today = local_today()
    segou = site(db, "Ségou", "region")
    district = site(db, "Ségou district", "district", segou)
    area = site(db, "Pelengana", "health_area", district)
    village = site(db, "Pelengana village", "village", area)
    elsewhere = site(db, "Mopti village", "village")
    chw = make_chw(language="fr")
    week_25 = today + timedelta(weeks=15)
    people = [
        make_beneficiary(language="fr", phone=phone(db, "+22370111111"), village_id=village.id),
        make_beneficiary(language="bm", phone=phone(db, "+22366111111"), village_id=village.id),
        make_beneficiary(
            language="bm",
            phone=phone(db, "+22366222222"),
            phone_kind=PhoneKind.SHARED,
            village_id=village.id,
        ),
        make_beneficiary(language="bm", phone_kind=PhoneKind.NONE, chw=chw, village_id=village.id),
    ]
    for woman in people:
        enroll(woman, "pregnancy", week_25, start=today)
    left_out = [
        make_beneficiary(phone=phone(db, "+22370333333", "opted_out"), village_id=village.id),
        make_beneficiary(status="pending", village_id=village.id),
        make_beneficiary(village_id=elsewhere.id),
    ]
    for woman in left_out:
        enroll(woman, "pregnancy", week_25, start=today)
    enroll(
        make_beneficiary(village_id=village.id),
        "pregnancy",
        today + timedelta(weeks=5),
        start=today,
    )
    enroll(
        make_beneficiary(village_id=village.id), "infant", today - timedelta(weeks=25), start=today
    )
    db.commit()
    # When a two-language message to pregnancy weeks 20-30 of the region is priced
    audience = Audience(
        site_ids=(segou.id or 0,), programme="pregnancy", stage_from=20, stage_to=30
    )
    result = preflight(db, audience=audience, texts=TEXTS, prices=PRICES)
    # Then four women are counted: one French, two Bambara, and one through her French CHW
    fr, bm = result.by_language["fr"], result.by_language["bm"]
    assert (fr.recipients, bm.recipients, result.recipients) == (2, 2, 4)
    # and every form is one GSM-7 segment (Bambara sent in its GSM-safe spelling)
    assert (fr.segments, bm.segments, fr.encoding, bm.encoding) == (2, 2, "GSM-7", "GSM-7")
    # and the cost follows each number's network (the CHW's phone is on Orange)
    assert fr.cost_xof == Decimal("60.0")
    assert bm.cost_xof == Decimal("40.0")
    assert result.cost_xof == Decimal("100.0")


def test_preflight_filters_language_displacement_and_takes_a_content_key(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary]
) -> None:
    # Given a displaced Bambara speaker and a resident French speaker, both enrolled
    today = local_today()
    displaced = make_beneficiary(language="bm", displaced=True)
    resident = make_beneficiary(language="fr")
    for woman in (displaced, resident):
        enroll(woman, "infant", today - timedelta(weeks=40), start=today)
    db.commit()
    # When the malaria message is priced for displaced women only, then for French only
    only_displaced = preflight(
        db, audience=Audience(displaced=True), key="mal_smc_round1", prices=PRICES
    )
    only_french = preflight(
        db, audience=Audience(languages=("fr",)), key="mal_smc_round1", prices=PRICES
    )
    # Then each audience has its one woman
    assert list(only_displaced.by_language) == ["bm"]
    assert list(only_french.by_language) == ["fr"]
    assert only_french.by_language["fr"].segments_per_message == 1


def test_a_long_text_costs_more_segments(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary]
) -> None:
    # Given one French speaker
    enroll(
        make_beneficiary(language="fr"),
        "pregnancy",
        local_today() + timedelta(weeks=10),
        start=local_today(),
    )
    db.commit()
    # When a 200-character message is priced
    result = preflight(db, audience=Audience(), texts={"fr": "a" * 200}, prices=PRICES)
    # Then it is two segments, billed twice
    fr = result.by_language["fr"]
    assert (fr.segments_per_message, fr.segments) == (2, 2)
    assert fr.cost_xof == Decimal("60.0")
