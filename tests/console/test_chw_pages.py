"""The console's CHW pages at programme scale: a paged, searchable list, a page per CHW,
and the transfer form's CHW list narrowed to a village."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlmodel import select

from outreach.accounts.models import Role
from outreach.chws import service as chw_service
from outreach.chws.models import Chw
from outreach.db import get_engine
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary
from outreach.sites import service as site_service
from outreach.sites.models import Site

ROW_LINK = re.compile(r'<a href="/console/chws/(\d+)">')


def _site(db, name: str, level: str = "village") -> Site:
    return db.exec(select(Site).where(Site.name == name, Site.level == level)).one()


def _chw(db, name: str, n: int, *sites: Site, active: bool = True) -> Chw:
    chw = chw_service.add(
        db, name=name, phone=f"+223760{n:05d}", pin="1234", site_ids=[s.id for s in sites]
    )
    chw.active = active
    db.add(chw)
    db.commit()
    return chw


def _many(db, count: int, start: int = 1) -> None:
    """`count` CHWs named ASC 001, ASC 002..., each on a village, every third on an area."""
    villages = db.exec(select(Site).where(Site.level == "village").order_by(Site.id)).all()
    areas = db.exec(select(Site).where(Site.level == "health_area").order_by(Site.id)).all()
    for n in range(start, start + count):
        covered = [villages[n % len(villages)]]
        if n % 3 == 0:
            covered.append(areas[n % len(areas)])
        chw_service.add(
            db,
            name=f"ASC {n:03d}",
            phone=f"+223760{n:05d}",
            pin="1234",
            site_ids=[s.id for s in covered],
        )
    db.commit()


def _options(html: str, select_id: str) -> str:
    """The inside of one `<select>` of a page."""
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert found, f"no select #{select_id}"
    return found.group(1)


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every SQL statement run while the block runs, in order."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_chw_list_has_pages_of_50_by_name(db, staff) -> None:
    # Given 60 CHWs in the programme area
    site_service.seed(db)
    _many(db, 60)
    manager = staff(Role.manager)
    # When a manager opens the list, then its second page
    first = manager.get("/console/chws")
    second = manager.get("/console/chws?page=2")
    # Then the first page has the first 50 by name, the second the last 10, with a pager
    assert first.status_code == 200 and second.status_code == 200
    assert len(ROW_LINK.findall(first.text)) == 50
    assert len(ROW_LINK.findall(second.text)) == 10
    assert "60 agent(s)" in first.text
    assert "ASC 001" in first.text and "ASC 050" in first.text and "ASC 051" not in first.text
    assert "ASC 051" in second.text and "ASC 060" in second.text
    assert "Page 1 sur 2" in first.text and 'href="/console/chws?page=2"' in first.text
    assert "Page 2 sur 2" in second.text and 'href="/console/chws?page=1"' in second.text
    # And no row carries the forms of its CHW any more (they are on her page), only the
    # form adding a CHW is left
    assert 'action="/console/chws/' not in first.text
    assert 'action="/console/chws"' in first.text


def test_the_chw_list_searches_names_and_phone_numbers(db, chw, staff) -> None:
    # Given the demo CHW (Aminata Coulibaly) and 12 others
    _many(db, 12)
    viewer = staff(Role.viewer)
    # When the viewer searches a name in other letter case, and a number as people write it
    by_name = viewer.get("/console/chws?q=aminata")
    by_phone = viewer.get("/console/chws?q=76 00 00 07")
    by_end = viewer.get("/console/chws?q=0011")
    htmx = viewer.get("/console/chws?q=COULIBALY", headers={"HX-Request": "true"})
    # Then the name and the whole number each find only its CHW, and an HTMX search gets
    # the rows alone
    assert ROW_LINK.findall(by_name.text) == [str(chw.id)]
    assert "1 agent(s)" in by_name.text
    assert "ASC 007" in by_phone.text and len(ROW_LINK.findall(by_phone.text)) == 1
    # (a few digits find no one: numbers are encrypted and found whole, by blind index)
    assert ROW_LINK.findall(by_end.text) == [] and "0 agent(s)" in by_end.text
    assert "<html" not in htmx.text and ROW_LINK.findall(htmx.text) == [str(chw.id)]
    # And a search matching nobody says so
    none = viewer.get("/console/chws?q=zzz")
    assert "Aucun agent ne correspond." in none.text and "0 agent(s)" in none.text


def test_the_site_filter_finds_chws_covering_a_village_under_it(db, staff) -> None:
    # Given a CHW on the health area of Pelengana, one on the village of Markala (both in
    # the district of Ségou), one on the village of Bla (district of Bla), none in Bamako
    site_service.seed(db)
    area = _chw(db, "Awa Aire", 1, _site(db, "Pelengana", "health_area"))
    markala = _chw(db, "Binta Markala", 2, _site(db, "Markala"))
    bla = _chw(db, "Coumba Bla", 3, _site(db, "Bla"))
    viewer = staff(Role.viewer)

    def listed(site: Site) -> set[int]:
        page = viewer.get(f"/console/chws?site_id={site.id}")
        assert page.status_code == 200
        return {int(i) for i in ROW_LINK.findall(page.text)}

    # When the list is filtered on a region, a district, a village under the area, Bamako
    # Then each shows the CHWs who cover at least one of its villages
    assert listed(_site(db, "Ségou", "region")) == {area.id, markala.id, bla.id}
    assert listed(_site(db, "Ségou", "district")) == {area.id, markala.id}
    assert listed(_site(db, "Sakoïba")) == {area.id}
    assert listed(_site(db, "Bla", "district")) == {bla.id}
    assert listed(_site(db, "Bamako", "region")) == set()
    # And the form shows the filter chosen
    page = viewer.get(f"/console/chws?site_id={_site(db, 'Ségou', 'region').id}&q=a")
    assert f'<option value="{_site(db, "Ségou", "region").id}" selected>' in page.text


def test_the_list_runs_as_many_queries_for_60_chws_as_for_5(db, staff) -> None:
    # Given 5 CHWs, some covering a whole health area, and the list opened once
    site_service.seed(db)
    _many(db, 5)
    viewer = staff(Role.viewer)
    viewer.get("/console/chws")
    # When the list is counted with 5 CHWs, then with 60
    with _statements() as few:
        assert viewer.get("/console/chws").status_code == 200
    _many(db, 55, start=6)
    with _statements() as many:
        page = viewer.get("/console/chws")
    # Then it is the same handful of statements: none per CHW
    assert len(ROW_LINK.findall(page.text)) == 50
    assert len(many) == len(few), "\n".join(many)
    assert len(many) < 20, "\n".join(many)


def test_villages_by_chw_is_villages_for_each_chw(db) -> None:
    # Given CHWs on villages, on health areas, on a district, and one on nothing
    site_service.seed(db)
    _many(db, 9)
    _chw(db, "District", 100, _site(db, "Bla", "district"))
    _chw(db, "Personne", 101)
    ids = [c.id for c in db.exec(select(Chw).order_by(Chw.id)).all()]
    # When their villages are read together
    together = chw_service.villages_by_chw(db, chw_ids=ids)
    # Then each CHW has exactly the villages `villages()` gives her alone
    for chw_id in ids:
        assert together[chw_id] == chw_service.villages(db, chw_id=chw_id)
    assert len(together[ids[-2]]) == 9 and together[ids[-1]] == []


def test_a_viewer_reads_a_chws_page_without_its_forms(db, chw, staff) -> None:
    # Given the demo CHW and a viewer
    viewer = staff(Role.viewer)
    # When the viewer follows the link from the list
    listing = viewer.get("/console/chws")
    assert f'href="/console/chws/{chw.id}"' in listing.text
    page = viewer.get(f"/console/chws/{chw.id}")
    # Then she sees the CHW's number and villages, but no form to change them
    assert page.status_code == 200
    assert "<h1>Aminata Coulibaly</h1>" in page.text
    assert "70 00 00 01" in page.text and "Dougounina, Pelengana, Sakoïba" in page.text
    assert "Réinitialiser le PIN" not in page.text and "Désactiver" not in page.text
    # And an unknown CHW is a French 404 page
    missing = viewer.get("/console/chws/999999")
    assert missing.status_code == 404 and "Agent introuvable." in missing.text


def test_manager_edits_a_chw_on_her_page(db, chw, staff) -> None:
    # Given a manager on the demo CHW's page
    manager = staff(Role.manager)
    page = manager.get(f"/console/chws/{chw.id}")
    assert "Réinitialiser le PIN" in page.text and "Désactiver" in page.text
    bla = _site(db, "Bla")
    # When she renames her and moves her to Bla
    edited = manager.post(
        f"/console/chws/{chw.id}",
        {"name": "Aminata Diarra", "language": "bm", "site_ids": str(bla.id)},
    )
    # Then the CHW's page comes back, saying so, with the change
    assert edited.status_code == 200 and "Modification enregistrée." in edited.text
    assert "<h1>Aminata Diarra</h1>" in edited.text
    assert f'action="/console/chws/{chw.id}/pin"' in edited.text
    assert re.search(r"<dt>Villages</dt><dd>Bla</dd>", edited.text)
    # When a village that does not exist is posted
    bad = manager.post(
        f"/console/chws/{chw.id}", {"name": "Autre nom", "site_ids": ["999999", str(bla.id)]}
    )
    # Then it is a French 422 on her page, and nothing of that edit is kept
    assert bad.status_code == 422 and "lieu 999999 inconnu" in bad.text
    db.expire_all()
    kept = db.get(Chw, chw.id)
    assert kept.name == "Aminata Diarra"
    assert [v.name for v in chw_service.villages(db, chw_id=chw.id)] == ["Bla"]
    # When she resets the PIN (badly, then well) and deactivates her
    short = manager.post(f"/console/chws/{chw.id}/pin", {"pin": "12"})
    reset = manager.post(f"/console/chws/{chw.id}/pin", {"pin": "8765"})
    off = manager.post(f"/console/chws/{chw.id}/deactivate")
    # Then each answer is her page: a 422 for the short PIN, the flash for the others
    assert short.status_code == 422 and "4 chiffres" in short.text and "<h1>Aminata" in short.text
    assert reset.status_code == 200 and "Modification enregistrée." in reset.text
    assert off.status_code == 200 and "<dt>Actif</dt><dd>non</dd>" in off.text
    assert "Désactiver</button>" not in off.text
    # And posting to a CHW that does not exist is a 404 page
    for path in ("/console/chws/999999", "/console/chws/999999/pin"):
        missing = manager.post(path, {"name": "X", "pin": "1111"})
        assert missing.status_code == 404 and "Agent introuvable." in missing.text
    assert manager.post("/console/chws/999999/deactivate").status_code == 404


def test_the_options_fragment_lists_the_active_chws_covering_a_village(db, chw, staff) -> None:
    # Given the demo CHW on three villages of the health area of Pelengana, one CHW on the
    # whole area, one on the village of Bla, and a deactivated one on Pelengana
    area = _chw(db, "Fanta Aire", 2, _site(db, "Pelengana", "health_area"))
    bla = _chw(db, "Mariam Bla", 3, _site(db, "Bla"))
    _chw(db, "Ancienne", 4, _site(db, "Pelengana"), active=False)
    viewer = staff(Role.viewer)
    # When the transfer form asks for the CHWs of Pelengana, of Bla (chosen in the form
    # of a woman of Pelengana) and of Markala
    pelengana = viewer.get(f"/console/chws/options?village_id={_site(db, 'Pelengana').id}")
    chosen = viewer.get(
        f"/console/chws/options?village_id={_site(db, 'Pelengana').id}"
        f"&to_village_id={_site(db, 'Bla').id}"
    )
    nobody = viewer.get(f"/console/chws/options?village_id={_site(db, 'Markala').id}")
    # Then it gets only the options of the active CHWs covering it, by name, with numbers
    assert pelengana.status_code == 200 and "<html" not in pelengana.text
    values = re.findall(r'<option value="(\d+)">', pelengana.text)
    assert values == [str(chw.id), str(area.id)]
    assert "Aminata Coulibaly · 70 00 00 01" in pelengana.text and "Ancienne" not in pelengana.text
    # And the village chosen in the form wins over her current one
    assert re.findall(r'<option value="(\d+)">', chosen.text) == [str(bla.id)]
    # And a village nobody covers says so, with an option that cannot be submitted
    assert '<option value="">Aucun agent ne couvre ce village</option>' in nobody.text


def test_the_transfer_form_lists_only_her_villages_chws_and_still_transfers(db, chw, staff) -> None:
    # Given Awa in Pelengana (the demo CHW's village) and Mariam, a CHW of Bla
    awa = registry_service.register_pregnancy(
        db,
        name="Awa Traore",
        phone="+22370123456",
        weeks=20,
        chw_id=chw.id,
        village_id=_site(db, "Pelengana").id,
    ).beneficiary
    db.commit()
    bla = _site(db, "Bla")
    mariam = _chw(db, "Mariam Bla", 3, bla)
    _many(db, 30, start=10)
    officer = staff(Role.officer)
    # When the officer opens Awa's page
    page = officer.get(f"/console/beneficiaries/{awa.id}")
    # Then the CHW select holds the CHWs of Pelengana only, and the village select asks
    # for the CHWs of the village chosen
    chws = re.findall(r'<option value="(\d+)"', _options(page.text, "to_chw_id"))
    expected = {c.id for c, _ in chw_service.covering(db, village_id=_site(db, "Pelengana").id)}
    assert {int(i) for i in chws} == expected and chw.id in expected
    assert str(mariam.id) not in chws and len(chws) < 10
    assert (
        f'hx-get="/console/chws/options?village_id={awa.village_id}" hx-target="#to_chw_id"'
        in page.text
    )
    # When she picks Bla, gets its CHWs and transfers Awa to Mariam
    options = officer.get(
        f"/console/chws/options?village_id={awa.village_id}&to_village_id={bla.id}"
    )
    assert f'<option value="{mariam.id}">Mariam Bla' in options.text
    moved = officer.post(
        f"/console/beneficiaries/{awa.id}/transfer",
        {"to_chw_id": str(mariam.id), "to_village_id": str(bla.id)},
    )
    # Then Awa is Mariam's, in Bla, and her page now offers Bla's CHWs
    assert moved.status_code == 200 and "Pelengana → Bla" in moved.text
    db.expire_all()
    moved_awa = db.get(Beneficiary, awa.id)
    assert (moved_awa.chw_id, moved_awa.village_id) == (mariam.id, bla.id)
    assert f'<option value="{mariam.id}">' in _options(moved.text, "to_chw_id")
    # And a transfer posted without a CHW (a village nobody covers) is the usual 422
    empty = officer.post(
        f"/console/beneficiaries/{awa.id}/transfer",
        {"to_chw_id": "", "to_village_id": str(_site(db, "Markala").id)},
    )
    assert empty.status_code == 422 and "Saisie invalide" in empty.text
