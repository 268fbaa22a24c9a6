"""CSV import: a dry-run report per line, then a batched import that can resume."""

from __future__ import annotations

from sqlmodel import select

from outreach.db import unit_of_work
from outreach.imports import service as imports
from outreach.imports.models import BeneficiaryImport, ImportStatus
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, Consent
from outreach.sites.models import Site

CSV = """nom;telephone;village;langue;semaines;deplacee
Awa Traoré;70 12 34 56;Pelengana;fr;20;non
Fanta Diarra;12345;Pelengana;bm;22;oui
Oumou Sow;+22376543210;Tombouctou-Nord;fr;18;non
;+22376000001;Bla;fr;20;non
Mariam Keita;+22366111222;Bla;xx;50;oui
Kadiatou Sangaré;65 12 34 56;Bla;bm;30;oui
Kadiatou Sangare;65123456;Bla;bm;30;oui
"""


def _problems(batch: BeneficiaryImport) -> dict[int, list[str]]:
    return {p["line"]: [i["key"] for i in p["problems"]] for p in batch.problems}


def test_the_dry_run_reports_each_bad_line_and_writes_nobody(db, chw) -> None:
    # Given a woman already registered on 70 12 34 56
    village = db.exec(select(Site).where(Site.name == "Pelengana")).first()
    registry_service.register_pregnancy(
        db, name="Awa Traore", phone="+22370123456", weeks=20, chw_id=chw.id, village_id=village.id
    )
    db.commit()
    before = len(db.exec(select(Beneficiary)).all())
    # When staff upload a CSV with good and bad lines
    batch = imports.check(db, data=CSV.encode(), filename="ségou.csv", user=None)
    db.commit()
    # Then each problem is reported on its line
    problems = _problems(batch)
    assert problems[2] == ["import.duplicate"]
    assert problems[3] == ["import.invalid_phone"]
    assert problems[4] == ["import.unknown_village"]
    assert problems[5] == ["import.missing_field"]
    assert sorted(problems[6]) == ["import.bad_language", "import.bad_weeks"]
    assert problems[8] == ["import.duplicate_in_file"]
    assert 7 not in problems
    assert batch.total_lines == 7 and batch.valid_lines == 1
    # And nobody was registered by the dry run
    assert len(db.exec(select(Beneficiary)).all()) == before


def test_a_confirmed_import_registers_the_valid_lines_in_batches(db, chw) -> None:
    # Given a checked file of 5 valid lines
    names = ["Awa Coulibaly", "Bintou Keita", "Djeneba Toure", "Hawa Sidibe", "Rokia Dembele"]
    lines = ["nom,telephone,village,semaines,deplacee"] + [
        f"{name},+2237650000{n},Bla,{20 + n},oui" for n, name in enumerate(names)
    ]
    batch = imports.check(db, data="\n".join(lines).encode(), filename="bla.csv", user=None)
    db.commit()
    assert batch.valid_lines == 5 and not batch.problems
    # When the task runs it in batches of 2
    rounds = 0
    more = True
    while more:
        with unit_of_work() as session:
            if rounds == 0:
                session.get(BeneficiaryImport, batch.id).status = ImportStatus.QUEUED
            more = imports.run_batch(session, import_id=batch.id, size=2)
        rounds += 1
    # Then everyone is registered, displaced, with a paper-form consent, in 3 rounds
    db.expire_all()
    done = db.get(BeneficiaryImport, batch.id)
    assert rounds == 3
    assert (done.status, done.done, done.imported, done.skipped) == ("done", 5, 5, 0)
    # (names are encrypted: they are compared once read)
    women = [w for w in db.exec(select(Beneficiary)).all() if w.name in names]
    assert len(women) == 5 and all(w.displaced for w in women)
    assert len(db.exec(select(Consent).where(Consent.text_key == imports.PAPER_CONSENT)).all()) == 5
    # And running it again adds nobody (the task may be delivered twice)
    with unit_of_work() as session:
        assert imports.run_batch(session, import_id=batch.id) is False
    assert len([w for w in db.exec(select(Beneficiary)).all() if w.name in names]) == 5


def test_an_unreadable_file_is_refused(db) -> None:
    # Given an empty upload
    # When it is checked
    try:
        imports.check(db, data=b"", filename="vide.csv", user=None)
    except imports.ImportError_ as exc:
        # Then the console gets the French text key for it
        assert str(exc) == "import.empty"
    else:
        raise AssertionError("an empty file was accepted")
