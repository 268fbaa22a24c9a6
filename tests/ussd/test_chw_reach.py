"""A CHW finds only the women of her own sites, except to take one over by her exact code."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from outreach.chws import service as chw_service
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site

OTHER_CHW = "+22370000009"
FAR_PHONE = "+22370555001"


@pytest.fixture
def far_woman(chw, db: Session) -> Beneficiary:
    """Mariam, in a village the demo CHW does not cover, followed by another CHW."""
    covered = {v.id for v in chw_service.villages(db, chw_id=chw.id)}
    far = next(
        s for s in db.exec(select(Site).where(Site.level == "village")) if s.id not in covered
    )
    other = chw_service.add(
        db, name="Oumou Sangare", phone=OTHER_CHW, pin="4321", site_ids=[far.id]
    )
    woman = registry_service.register_pregnancy(
        db, name="Mariam Keita", phone=FAR_PHONE, weeks=20, chw_id=other.id, village_id=far.id
    ).beneficiary
    db.commit()
    return woman


def _signed_in(dialer, menu: str):
    session = dialer()
    session.dial()
    session.answer("1234")
    session.answer(menu)
    return session


def test_search_by_phone_does_not_reach_another_site(far_woman, dialer) -> None:
    # given Mariam, of a village the demo CHW does not cover
    # when the demo CHW searches her by phone
    session = _signed_in(dialer, "5")
    session.answer("1")
    answer = session.answer("70555001")
    # then nobody is found: the screen does not even confirm she exists
    assert answer.startswith("CON Personne trouvee") and "Mariam" not in answer


def test_search_by_code_does_not_reach_another_site(far_woman, dialer) -> None:
    # given Mariam, of a village the demo CHW does not cover
    # when the demo CHW looks her up by her code, to see her card
    session = _signed_in(dialer, "5")
    session.answer("2")
    answer = session.answer(far_woman.code)
    # then nobody is found
    assert answer.startswith("CON Personne trouvee") and "Mariam" not in answer


def test_a_transfer_by_phone_does_not_reach_her_either(far_woman, dialer) -> None:
    # when the demo CHW tries to take Mariam over, found by phone
    session = _signed_in(dialer, "7")
    session.answer("1")
    # then nobody is found
    assert session.answer("70555001").startswith("CON Personne trouvee")


def test_a_transfer_by_her_exact_code_takes_her_over(far_woman, chw, dialer, db) -> None:
    # given Mariam, displaced into the demo CHW's area with her code
    # when the demo CHW takes her over by that code
    session = _signed_in(dialer, "7")
    session.answer("2")
    assert session.answer(far_woman.code).startswith("CON Village:")
    assert "Prendre en charge Mariam Keita" in session.answer("1")
    # then she is now the demo CHW's, and her own searches find her from then on
    assert session.answer("1") == "END Mariam Keita est maintenant suivie par vous."
    db.expire_all()
    assert db.get(Beneficiary, far_woman.id).chw_id == chw.id
    again = _signed_in(dialer, "5")
    again.answer("1")
    assert again.answer("70555001").startswith("CON Mariam Keita")


def test_her_own_women_are_still_found(chw, dialer, db) -> None:
    # given a woman in one of the demo CHW's villages
    village = chw_service.villages(db, chw_id=chw.id)[0]
    registry_service.register_pregnancy(
        db, name="Awa Traore", phone="+22370555002", weeks=20, chw_id=None, village_id=village.id
    )
    db.commit()
    # when the CHW searches her number
    session = _signed_in(dialer, "5")
    session.answer("1")
    # then her card shows
    assert session.answer("70555002").startswith("CON Awa Traore")
