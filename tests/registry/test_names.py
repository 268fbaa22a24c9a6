"""Name search on encrypted names: word tokens, accents and case, rotation, duplicates."""

from __future__ import annotations

import itertools
from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session, col, select

from outreach.chws.models import Chw
from outreach.config import get_settings
from outreach.encryption import keys, service
from outreach.registry import names
from outreach.registry import service as registry
from outreach.registry.models import Beneficiary, NameKind, NameToken, Phone
from outreach.reports import beneficiaries as beneficiary_list
from outreach.reports import chws as chw_list
from outreach.timeutil import local_today

_numbers = itertools.count(1)


def _woman(db: Session, name: str, *, phone: Phone | None = None) -> Beneficiary:
    woman = Beneficiary(
        code=f"N{next(_numbers):05d}", name=name, phone_id=phone.id if phone else None
    )
    db.add(woman)
    db.flush()
    return woman


def _found(db: Session, query: str) -> set[str]:
    stmt = select(Beneficiary).where(names.matching(NameKind.BENEFICIARY, query, Beneficiary.id))
    return {b.name for b in db.exec(stmt)}


def test_words_are_case_folded_and_stripped_of_accents() -> None:
    # Given names written with capitals, accents, Bambara letters and punctuation
    # When they are split into words
    # Then each word is in one plain form, once
    assert names.words("Awa TRAORÉ") == ["awa", "traore"]
    assert names.words("  Ɲɛlɛni  Dembélé-Dembélé ") == ["ɲɛlɛni", "dembele"]
    assert names.words("N'Diaye") == ["n", "diaye"]


def test_a_search_finds_every_word_in_any_order_whatever_the_accents(db: Session) -> None:
    # Given three women, two of them Traoré
    _woman(db, "Awa TRAORÉ")
    _woman(db, "Fanta Traore")
    _woman(db, "Awa Diarra")
    db.commit()
    # When staff search by one word, by two in another order, with other accents and case
    # Then all the words must match, in any order
    assert _found(db, "traore") == {"Awa TRAORÉ", "Fanta Traore"}
    assert _found(db, "traoré awa") == {"Awa TRAORÉ"}
    assert _found(db, "AWA") == {"Awa TRAORÉ", "Awa Diarra"}
    # And a part of a word finds nobody: substring search is given up
    assert _found(db, "Tra") == set()


def test_the_tokens_follow_a_corrected_name(db: Session) -> None:
    # Given a woman registered as "Awa Traore"
    woman = _woman(db, "Awa Traore")
    db.commit()
    # When her name is corrected
    woman.name = "Awa Coulibaly"
    db.add(woman)
    db.commit()
    # Then she is found by her new name only, and her tokens are a keyed hash each
    assert _found(db, "coulibaly") == {"Awa Coulibaly"}
    assert _found(db, "traore") == set()
    stored = db.exec(select(NameToken.token).where(NameToken.owner_id == woman.id)).all()
    assert len(stored) == 2 and not any("awa" in t or "coulibaly" in t for t in stored)


def test_the_console_lists_search_names_by_token(db: Session) -> None:
    # Given two women and two CHWs
    _woman(db, "Kadiatou Sangaré")
    _woman(db, "Oumou Sangare")
    for name, number in (("Binta Keïta", "+22370990001"), ("Assitan Keita", "+22370990002")):
        phone = Phone(e164=number)
        db.add(phone)
        db.flush()
        assert phone.id is not None
        db.add(Chw(name=name, phone_id=phone.id, pin_hash="x"))
    db.commit()
    # When the beneficiary and CHW lists are searched by name
    women = beneficiary_list.search(
        db, filters=beneficiary_list.Filters(q="sangare kadiatou"), page=1
    )
    workers = chw_list.search(db, filters=chw_list.Filters(q="KEITA"), page=1)
    # Then the matches come back, the CHWs sorted by their decrypted names
    assert [r.name for r in women.rows] == ["Kadiatou Sangaré"]
    assert [r.chw.name for r in workers.rows] == ["Assitan Keita", "Binta Keïta"]


def test_rotation_rehashes_the_tokens_under_the_new_index_key(db: Session) -> None:
    # Given a woman indexed under the current index key
    settings = get_settings()
    before = settings.index_keys
    settings.index_keys = [SecretStr(keys.generate_index_key())]
    try:
        woman = _woman(db, "Awa Traoré")
        db.commit()
        old = set(db.exec(select(NameToken.token).where(NameToken.owner_id == woman.id)).all())
        # When a new index key is put first and the keys are rotated
        settings.index_keys = [SecretStr(keys.generate_index_key()), *settings.index_keys]
        report = service.rotate(session=db)
        db.commit()
        # Then her tokens are rewritten, and she is still found once the old key is gone
        new = set(db.exec(select(NameToken.token).where(NameToken.owner_id == woman.id)).all())
        assert report.rows["name_tokens"] >= 1 and new.isdisjoint(old)
        settings.index_keys = settings.index_keys[:1]
        assert _found(db, "awa traore") == {"Awa Traoré"}
    finally:
        settings.index_keys = before


def test_the_duplicate_check_still_finds_the_near_duplicate(db: Session) -> None:
    # Given a woman on a phone, registered with an EDD
    phone = Phone(e164="+22370555001")
    db.add(phone)
    db.flush()
    woman = _woman(db, "Aïssata Traoré", phone=phone)
    db.commit()
    # When the same woman is registered again under a near spelling, on the same phone
    found = registry.find_duplicates(
        db,
        name="Aissata Traore",
        phone="+22370555001",
        village_id=None,
        anchor=local_today() + timedelta(weeks=20),
    )
    # Then the encrypted candidate is decrypted and compared as before
    assert [b.id for b in found] == [woman.id]
    # And the stored name is ciphertext
    raw = db.execute(
        text("SELECT name FROM beneficiary WHERE id = :i"), {"i": woman.id}
    ).scalar_one()
    assert "Tra" not in raw and "Aïssata" not in raw
    assert db.exec(select(Beneficiary).where(col(Beneficiary.id) == woman.id)).one().name == (
        "Aïssata Traoré"
    )
