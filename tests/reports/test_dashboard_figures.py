"""Dashboard read models: each figure from real rows, on both back ends."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from outreach.outbox.models import DeliveryReport, OutboundMessage
from outreach.programmes.models import EnrollmentStatus
from outreach.registry import service as registry_service
from outreach.reports import beneficiaries as listing
from outreach.reports import service as reports
from outreach.sites.models import Site, SiteLevel
from outreach.timeutil import local_today, utcnow
from outreach.ussd.models import UssdSessionEvent


def _village(db, name: str) -> Site:
    site = db.exec(select(Site).where(Site.name == name, Site.level == SiteLevel.VILLAGE)).one()
    return site


def test_enrollments_are_counted_by_stage_and_district(db, chw) -> None:
    # Given two women in Pelengana (district of Ségou) at 10 and 30 weeks, one in Bla at 30
    pelengana, bla = _village(db, "Pelengana"), _village(db, "Bla")
    for name, weeks, village in (
        ("Awa", 10, pelengana),
        ("Fanta", 30, pelengana),
        ("Oumou", 30, bla),
    ):
        registry_service.register_pregnancy(
            db, name=f"{name} Traore", phone=None, weeks=weeks, chw_id=chw.id, village_id=village.id
        )
    db.commit()
    # When the dashboard counts active enrollments
    counts = reports.enrollments_by_stage_and_site(db)
    # Then each district has its women in the right trimester
    assert counts.by_site["Ségou"] == {"stage.pregnancy_t1": 1, "stage.pregnancy_t3": 1}
    assert counts.by_site["Bla"] == {"stage.pregnancy_t3": 1}
    assert counts.total == 3
    assert counts.stage_total("stage.pregnancy_t3") == 2


def test_stage_bounds_match_the_registrys_weeks_of_pregnancy() -> None:
    # Given today
    today = local_today()
    # When the second trimester is turned into expected delivery dates
    programme, first, last = reports.anchor_range("stage.pregnancy_t2", today=today)
    # Then exactly the EDDs the registry reads as 14 to 27 weeks are inside
    assert programme == "pregnancy"
    for days in range(0, 7 * 40):
        edd = today + timedelta(days=days)
        weeks = registry_service.weeks_from_edd(edd=edd, today=today)
        assert (first <= edd <= last) == (14 <= weeks <= 27), (days, weeks)


def _message(
    db, n: int, *, status: str, days_ago: int = 0, cost: str | None = None
) -> OutboundMessage:
    created = utcnow() - timedelta(days=days_ago)
    row = OutboundMessage(
        dedupe_key=f"test:{n}",
        kind="programme",
        to_number="+22370000099",
        body="x",
        status=status,
        created_at=created,
        sent_at=created if cost else None,
        cost=Decimal(cost) if cost else None,
        currency="XOF" if cost else None,
        gateway_message_id=f"gw-{n}",
    )
    db.add(row)
    return row


def test_messages_by_status_over_30_days_and_cost_this_month(db) -> None:
    # Given messages today, two days ago and 40 days ago
    _message(db, 1, status="delivered", cost="25")
    _message(db, 2, status="delivered", cost="50")
    _message(db, 3, status="failed", days_ago=2)
    _message(db, 4, status="delivered", days_ago=40, cost="25")
    db.commit()
    # When the dashboard reads them
    daily = reports.messages_by_status(db)
    cost = reports.cost_this_month(db)
    # Then the 30-day chart holds the three recent ones by day and status
    today = local_today()
    assert len(daily.days) == 30 and daily.days[-1] == today
    assert daily.counts[(today, "delivered")] == 2
    assert daily.counts[(today - timedelta(days=2), "failed")] == 1
    assert daily.total == 3
    # And the cost this month counts what was sent since the first of the month
    assert cost.cost == Decimal("75")
    assert cost.messages == 2


def test_delivery_rate_by_network(db) -> None:
    # Given final reports: Orange (61001) 3 delivered of 4, Moov (61002) 1 failed
    for n, (status, network) in enumerate(
        [("Success", "61001")] * 3 + [("Failed", "61001"), ("Failed", "61002"), ("Sent", "61002")]
    ):
        db.add(DeliveryReport(gateway_message_id=f"gw-{n}", status=status, network_code=network))
    db.commit()
    # When the rate per network is computed
    rates = {r.network: r for r in reports.delivery_rate_by_network(db)}
    # Then intermediate reports ("Sent") are left out and the rates are right
    assert rates["61001"].reports == 4 and rates["61001"].rate == 0.75
    assert rates["61002"].reports == 1 and rates["61002"].rate == 0.0


def test_ussd_drop_off_lists_screens_where_sessions_were_dropped(db) -> None:
    # Given two sessions dropped at the weeks question and one completed
    for n, (status, screen) in enumerate(
        [("Incomplete", "weeks"), ("Failed", "weeks"), ("Success", "confirm")]
    ):
        db.add(UssdSessionEvent(session_id=f"s{n}", status=status, last_screen=screen))
    db.commit()
    # When the dashboard reads the drop-off
    rows = reports.ussd_drop_off(db)
    # Then only the screen with drops is listed, with its count
    assert [(r.screen, r.dropped, r.sessions) for r in rows] == [("weeks", 2, 2)]


def test_the_whole_dashboard_reads_an_empty_database(db) -> None:
    # Given no data at all
    # When the dashboard is assembled
    data = reports.dashboard(db)
    # Then every figure is empty rather than an error
    assert data.enrollments.total == 0
    assert data.messages.total == 0
    assert data.networks == []
    assert data.cost.cost == 0
    assert data.appointments is None or data.appointments.upcoming == 0


def test_beneficiary_search_filters_and_pages(db, chw) -> None:
    # Given 55 women in Pelengana (French) and one displaced Bambara speaker in Bla
    pelengana, bla = _village(db, "Pelengana"), _village(db, "Bla")
    for n in range(55):
        registry_service.register_pregnancy(
            db, name=f"Femme {n:02d}", phone=None, weeks=20, chw_id=chw.id, village_id=pelengana.id
        )
    kadi = registry_service.register_pregnancy(
        db,
        name="Kadiatou Sangare",
        phone="+22365123456",
        weeks=32,
        chw_id=chw.id,
        village_id=bla.id,
        language="bm",
        displaced=True,
    ).beneficiary
    db.commit()
    # When staff search by name, phone, code and filters
    by_name = listing.search(db, filters=listing.Filters(q="kadiatou"))
    by_phone = listing.search(db, filters=listing.Filters(q="65 12 34 56"))
    by_code = listing.search(db, filters=listing.Filters(q=kadi.code))
    filtered = listing.search(
        db,
        filters=listing.Filters(language="bm", displaced=True, stage="stage.pregnancy_t3"),
    )
    district = db.exec(select(Site).where(Site.name == "Ségou", Site.level == "district")).one()
    in_segou = listing.search(db, filters=listing.Filters(site_id=district.id), page=2)
    # Then each finds her, and the district's list is paged by 50
    for found in (by_name, by_phone, by_code, filtered):
        assert [r.code for r in found.rows] == [kadi.code]
    assert in_segou.total == 55 and in_segou.pages == 2 and len(in_segou.rows) == 5
    # And the export has every matching line, not just one page
    assert len(list(listing.export_rows(db, filters=listing.Filters(site_id=district.id)))) == 55


def test_detail_timeline_shows_messages_consent_and_transfers(db, chw) -> None:
    # Given a registered woman, transferred to Bla, who then paused
    reg = registry_service.register_pregnancy(
        db,
        name="Awa Traore",
        phone="+22370123456",
        weeks=20,
        chw_id=chw.id,
        village_id=_village(db, "Pelengana").id,
        consent=registry_service.ConsentInfo(
            text_key="consent_main", text_version=1, language="fr"
        ),
    )
    registry_service.transfer(
        db,
        beneficiary_id=reg.beneficiary.id,
        to_chw_id=chw.id,
        to_village_id=_village(db, "Bla").id,
    )
    db.commit()
    # When her detail is read
    found = listing.detail(db, beneficiary_id=reg.beneficiary.id)
    # Then the timeline has her welcome SMS, her consent and the transfer
    assert found is not None
    kinds = {e.kind for e in found.timeline}
    assert {"out", "consent", "transfer"} <= kinds
    assert any(e.text == "Pelengana → Bla" for e in found.timeline)
    assert found.enrollments[0].status == EnrollmentStatus.ACTIVE


def test_past_days_are_cached_and_today_stays_live(db) -> None:
    # Given a message two days ago and the dashboard read once
    _message(db, 1, status="delivered", days_ago=2, cost="25")
    db.commit()
    first = reports.messages_by_status(db)
    # When a message arrives today and a late row is added for two days ago
    _message(db, 2, status="queued")
    _message(db, 3, status="failed", days_ago=2)
    db.commit()
    second = reports.messages_by_status(db)
    # Then today's message shows at once, and the past day keeps its cached figures
    today = local_today()
    assert (today, "queued") not in first.counts and second.counts[(today, "queued")] == 1
    assert second.counts.get((today - timedelta(days=2), "failed")) is None
    assert second.counts[(today - timedelta(days=2), "delivered")] == 1


def test_a_broad_search_counts_up_to_the_cap(db, chw, monkeypatch) -> None:
    # Given more matching women than the count cap (lowered for the test)
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    village = _village(db, "Bla")
    for n, name in enumerate(("Awa Keita", "Awa Diarra", "Awa Sow", "Awa Toure", "Awa Sidibe")):
        registry_service.register_pregnancy(
            db, name=name, phone=f"+2237655000{n}", weeks=20, chw_id=chw.id, village_id=village.id
        )
    db.commit()
    # When staff search a common name, and list everyone
    found = listing.search(db, filters=listing.Filters(q="awa"))
    everyone = listing.search(db, filters=listing.Filters())
    # Then the search says "more than 3"; the unfiltered list keeps its exact count
    assert found.more and found.total == 3
    assert not everyone.more and everyone.total == 5


def test_a_scoped_dashboard_counts_only_the_women_of_those_sites(db, chw) -> None:
    # Given Awa in Pelengana and Oumou in Bla, each with a delivered, paid message
    from outreach.sites import service as site_service

    pelengana, bla = _village(db, "Pelengana"), _village(db, "Bla")
    women = {}
    for name, village in (("Awa", pelengana), ("Oumou", bla)):
        women[name] = registry_service.register_pregnancy(
            db, name=f"{name} Traore", phone=None, weeks=30, chw_id=chw.id, village_id=village.id
        ).beneficiary
        db.add(
            OutboundMessage(
                dedupe_key=f"scoped:{name}",
                kind="programme",
                to_number="+22376000001",
                body="x",
                beneficiary_id=women[name].id,
                status="delivered",
                cost=Decimal("25"),
                sent_at=utcnow(),
                final_at=utcnow(),
            )
        )
    db.commit()
    scope = frozenset(v.id for v in site_service.villages_under(db, site_id=pelengana.parent_id))
    # When the dashboard is assembled for the whole programme and for Pelengana's area
    everyone = reports.dashboard(db)
    scoped = reports.dashboard(db, scope=scope)
    # Then the scoped figures hold Awa alone, and the programme's both women
    assert everyone.enrollments.total == 2 and scoped.enrollments.total == 1
    assert list(scoped.enrollments.by_site) == ["Ségou"]
    assert everyone.cost.cost == Decimal("50") and scoped.cost.cost == Decimal("25")
    assert scoped.messages.status_total("delivered") == 1
    assert everyone.messages.status_total("delivered") == 2
    assert scoped.drop_off == []
    # And asking again (now from the cache) gives the same split
    assert reports.dashboard(db, scope=scope).cost.cost == Decimal("25")
    assert reports.dashboard(db).cost.cost == Decimal("50")
