"""CHW menus beyond pregnancy registration, each driven hop by hop through the USSD callback."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from outreach.chws import service as chw_service
from outreach.chws.models import Chw
from outreach.outbox.models import OutboundMessage
from outreach.programmes.models import Enrollment, EnrollmentStatus
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, BeneficiaryStatus, Child, Transfer
from outreach.sites.models import Site
from outreach.timeutil import local_today

WOMAN_PHONE = "+22370123456"


def _menu(session, choice: str) -> str:
    session.dial()
    session.answer("1234")
    return session.answer(choice)


def test_register_a_mother_with_her_infant(chw, dialer, db) -> None:
    # Given the CHW chooses "Mere avec bebe" then "Nouvelle mere"
    session = dialer()
    assert "1 Nouvelle mere" in _menu(session, "2")
    session.answer("1")
    session.answer("Salimata Coulibaly")
    session.answer("1")
    # When she gives the baby's age as 3 months, a girl, and the rest
    assert "1 Date de naissance" in session.answer("76543210")
    assert "mois" in session.answer("3")
    assert "1 Fille" in session.answer("3")
    assert session.answer("1").startswith("CON Village:")
    for answer in ("1", "1", "2", "1"):
        summary = session.answer(answer)
    assert "Bebe ne le" in summary and "fille" in summary
    final = session.answer("1")
    # Then the mother, the child and the infant enrollment exist, from the estimated birth date
    assert final.startswith("END Inscrite. Code:")
    mother = db.exec(select(Beneficiary)).one()
    child = db.exec(select(Child)).one()
    enrollment = db.exec(select(Enrollment)).one()
    assert child.mother_id == mother.id and child.sex == "F"
    assert abs((local_today() - child.birth_date).days - 91) <= 1
    assert enrollment.programme == "infant" and enrollment.child_id == child.id


def test_infant_over_24_months_or_born_in_the_future_is_refused(chw, dialer) -> None:
    # Given a CHW at the baby's age questions
    session = dialer()
    _menu(session, "2")
    for answer in ("1", "Salimata Coulibaly", "3", "3"):
        session.answer(answer)
    # When the baby is 30 months, or 200 weeks
    assert session.answer("30").startswith("CON Le programme bebe va jusqu'a 24 mois")
    session.answer("0")
    session.answer("2")
    assert session.answer("200").startswith("CON Le programme bebe va jusqu'a 24 mois")
    # And a birth date in the future or three years ago
    session.answer("0")
    session.answer("1")
    future = (local_today() + timedelta(days=3)).strftime("%d/%m/%Y")
    old = (local_today() - timedelta(days=3 * 365)).strftime("%d%m%Y")
    # Then each is refused with the reason
    assert session.answer(future).startswith("CON Date dans le futur")
    assert session.answer(old).startswith("CON Le programme bebe va jusqu'a 24 mois")


def test_add_an_infant_to_a_registered_mother_found_by_code(chw, woman, dialer, db) -> None:
    # Given Awa registered, found by her code
    session = dialer()
    _menu(session, "2")
    session.answer("2")
    session.answer("2")
    assert "1 Date de naissance" in session.answer(woman.code)
    # When the CHW adds a boy born on a given date
    born = local_today() - timedelta(days=20)
    session.answer("1")
    session.answer(born.strftime("%d%m%Y"))
    confirm = session.answer("2")
    assert "Awa Traore" in confirm and "garcon" in confirm
    # Then a child and an infant enrollment are added to her
    assert session.answer("1") == "END Bebe ajoute pour Awa Traore."
    child = db.exec(select(Child)).one()
    assert (child.mother_id, child.birth_date, child.sex) == (woman.id, born, "M")


def test_record_a_birth_switches_her_to_the_infant_programme(chw, woman, dialer, db) -> None:
    # Given Awa's pregnancy, found by phone
    session = dialer()
    _menu(session, "3")
    session.answer("1")
    assert "Naissance pour Awa Traore" in session.answer("70 12 34 56")
    # When the CHW records a birth yesterday, a girl
    session.answer("2")
    assert "Naissance de Awa Traore" in session.answer("1")
    final = session.answer("1")
    # Then the pregnancy is completed and the infant programme starts from that day
    assert final.startswith("END Naissance enregistree")
    enrollments = db.exec(select(Enrollment).order_by(col(Enrollment.id))).all()
    assert [(e.programme, e.status) for e in enrollments] == [
        ("pregnancy", EnrollmentStatus.COMPLETED),
        ("infant", EnrollmentStatus.ACTIVE),
    ]
    assert enrollments[1].anchor_date == local_today() - timedelta(days=1)


def test_a_birth_needs_an_ongoing_pregnancy(chw, woman, dialer, db) -> None:
    # Given Awa's pregnancy already ended by a loss
    from outreach.programmes import service as programmes_service

    assert woman.id is not None
    programmes_service.record_loss(db, beneficiary_id=woman.id)
    db.commit()
    # When the CHW tries to record a birth for her
    session = dialer()
    _menu(session, "3")
    session.answer("2")
    # Then she is told why and asked again
    assert session.answer(woman.code).startswith("CON Pas de grossesse en cours")


def test_record_a_loss_stops_her_programme(chw, woman, dialer, db) -> None:
    # Given Awa found by phone for a loss
    session = dialer()
    _menu(session, "4")
    session.answer("1")
    assert "perte pour Awa Traore" in session.answer("70123456")
    # When the CHW confirms
    assert session.answer("1").startswith("END Enregistre")
    # Then her enrollment is stopped
    enrollment = db.exec(select(Enrollment)).one()
    assert enrollment.status == EnrollmentStatus.STOPPED


def test_find_shows_her_card_and_what_can_be_done(chw, woman, dialer) -> None:
    # Given Awa registered
    session = dialer()
    _menu(session, "5")
    session.answer("2")
    # When the CHW searches her code
    card = session.answer(woman.code)
    # Then her card shows her stage and the actions
    assert card.startswith(f"CON Awa Traore ({woman.code})\nEnceinte 20 sem.")
    assert "1 Naissance 2 Perte" in card
    # And an unknown code says nobody was found
    session.answer("0")
    assert session.answer("999999").startswith("CON Personne trouvee")


def test_my_registrations_latest_first(chw, dialer, db) -> None:
    # Given three women registered by the CHW, in order
    for name in ("Awa Traore", "Mariam Keita", "Fatou Diarra"):
        registry_service.register_pregnancy(db, name=name, phone=None, weeks=12, chw_id=chw.id)
    db.commit()
    # When she opens "Mes inscrites"
    listing = _menu(dialer(), "6")
    # Then the latest comes first
    lines = listing.split("\n")
    assert lines[0] == "CON Mes inscrites:"
    assert [line.rsplit(" ", 1)[0] for line in lines[1:]] == [
        "1 Fatou Diarra",
        "2 Mariam Keita",
        "3 Awa Traore",
    ]


def test_my_registrations_when_there_are_none_says_so(chw, dialer) -> None:
    # Given a CHW who has registered nobody yet
    session = dialer()
    # When she opens "Mes inscrites"
    listing = _menu(session, "6")
    # Then she is told so rather than shown a bare title
    assert listing == "CON Aucune inscrite pour le moment.\n0 Retour"
    # And a number typed anyway is refused, on the same screen
    again = session.answer("1")
    assert again.startswith("CON Choix invalide.")
    assert "Aucune inscrite pour le moment." in again


def test_transfer_records_the_move_and_keeps_her_enrollment(chw, woman, dialer, db) -> None:
    # Given a second CHW at another site, and Awa followed by the demo CHW
    bla = db.exec(select(Site).where(Site.level == "village", Site.name != "Pelengana")).all()
    village = next(s for s in bla if s.name not in ("Sakoïba", "Dougounina"))
    other = chw_service.add(
        db, name="Oumou Sangare", phone="+22370000002", pin="4321", site_ids=[village.id]
    )
    db.commit()
    enrollment_before = db.exec(select(Enrollment)).one()
    # When the second CHW takes her over, found by her exact code (she is not of her sites)
    session = dialer("+22370000002")
    session.dial()
    session.answer("4321")
    session.answer("7")
    session.answer("2")
    assert session.answer(woman.code).startswith("CON Village:")
    confirm = session.answer("1")
    assert "Prendre en charge Awa Traore" in confirm and village.name[:5] in confirm
    # Then the move is recorded with date, from and to, and her enrollment is unchanged
    assert session.answer("1") == "END Awa Traore est maintenant suivie par vous."
    move = db.exec(select(Transfer)).one()
    assert (move.from_chw_id, move.to_chw_id) == (chw.id, other.id)
    assert move.to_village_id == village.id and move.moved_at is not None
    db.expire_all()
    assert db.get(Beneficiary, woman.id).chw_id == other.id
    after = db.exec(select(Enrollment)).one()
    assert (after.id, after.status) == (enrollment_before.id, EnrollmentStatus.ACTIVE)


def test_transfer_of_her_own_woman_is_refused(chw, woman, dialer) -> None:
    # Given Awa already followed by the demo CHW
    session = dialer()
    _menu(session, "7")
    session.answer("2")
    # When she tries to take her over
    # Then she is told she already follows her
    assert session.answer(woman.code).startswith("CON Vous la suivez deja")


def test_language_switch_changes_the_screens_and_is_kept(chw, dialer, db) -> None:
    # Given the CHW at her menu
    session = dialer()
    _menu(session, "8")
    # When she picks Bambara
    menu = session.answer("2")
    # Then the menu comes back in Bambara, and her account keeps it
    assert menu.startswith("CON Baarakèla menu")
    db.expire_all()
    assert db.get(Chw, chw.id).language == "bm"
    assert dialer().dial().startswith("CON I ni ce")


def test_duplicate_same_phone_similar_name_links_to_the_existing_record(
    chw, woman, dialer, db, to_summary
) -> None:
    # Given Awa Traore on 70 12 34 56; the CHW registers "Aoua Traoré" on the same phone
    session = dialer()
    to_summary(session, name="Aoua Traoré")
    # When she confirms the summary
    question = session.answer("1")
    # Then she is asked whether the woman is already registered
    assert question.startswith("CON Deja inscrite ?\n1 Awa Traore " + woman.code)
    # And answering yes creates nothing and gives the existing code
    assert session.answer("1") == f"END Deja inscrite, rien de cree. Son code: {woman.code}."
    assert len(db.exec(select(Beneficiary)).all()) == 1


def test_duplicate_same_village_name_and_edd_within_4_weeks(chw, dialer, db, to_summary) -> None:
    # Given Mariam Keita registered in Dougounina, 20 weeks, with no phone
    dougounina = db.exec(select(Site).where(Site.name == "Dougounina")).one()
    registry_service.register_pregnancy(
        db, name="Mariam Keita", phone=None, weeks=20, chw_id=chw.id, village_id=dougounina.id
    )
    db.commit()
    # When the CHW registers "Mariam Keïta" there at 22 weeks on another phone, and says no
    session = dialer()
    to_summary(session, name="Mariam Keita", phone="76111111", stage="22", village="1")
    assert session.answer("1").startswith("CON Deja inscrite ?")
    final = session.answer("2")
    # Then a new record is created all the same
    assert final.startswith("END Inscrite")
    assert len(db.exec(select(Beneficiary)).all()) == 2


def test_no_duplicate_question_when_the_edd_is_far(chw, dialer, db, to_summary) -> None:
    # Given Mariam Keita in Dougounina at 10 weeks
    dougounina = db.exec(select(Site).where(Site.name == "Dougounina")).one()
    registry_service.register_pregnancy(
        db, name="Mariam Keita", phone=None, weeks=10, chw_id=chw.id, village_id=dougounina.id
    )
    db.commit()
    # When a Mariam Keita at 30 weeks is registered there
    session = dialer()
    to_summary(session, name="Mariam Keita", phone="76111111", stage="30", village="1")
    # Then she is a different woman: no question, a new record
    assert session.answer("1").startswith("END Inscrite")


def test_a_self_registration_is_confirmed_by_the_chw(chw, dialer, db) -> None:
    # Given a woman who registered herself on 70 12 34 56 (pending)
    pending = registry_service.self_register(
        db, phone=WOMAN_PHONE, name="Awa Traore", language="fr", weeks=16, village_text="Pelengana"
    )
    db.commit()
    # When the CHW finds her and confirms
    session = dialer()
    _menu(session, "5")
    session.answer("2")
    card = session.answer(pending.code)
    assert "En attente de confirmation" in card
    session.answer("98")
    assert "Confirmer l'inscription de Awa Traore" in session.answer("5")
    final = session.answer("1")
    # Then she is active, enrolled from what she said, and gets her confirmation SMS
    assert final == f"END Inscription confirmee. Code: {pending.code}."
    db.expire_all()
    woman = db.get(Beneficiary, pending.id)
    assert woman.status == BeneficiaryStatus.ACTIVE and woman.chw_id == chw.id
    enrollment = db.exec(select(Enrollment)).one()
    assert enrollment.anchor_date == local_today() + timedelta(weeks=24)
    bodies = [m.body for m in db.exec(select(OutboundMessage).order_by(col(OutboundMessage.id)))]
    assert len(bodies) == 3 and pending.code in bodies[1]
