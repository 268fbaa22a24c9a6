"""The women's own menu and self-registration, driven hop by hop through the USSD callback."""

from __future__ import annotations

from sqlmodel import select

from outreach.outbox.models import MessageStatus, OutboundMessage, addressed_to
from outreach.programmes.models import Enrollment
from outreach.registry import service as registry_service
from outreach.registry.models import (
    Beneficiary,
    BeneficiaryStatus,
    Consent,
    Phone,
    PhoneKind,
    PhoneStatus,
    SelfRegistration,
    has_number,
)
from outreach.sites.models import Site

WOMAN_PHONE = "+22370123456"
UNKNOWN_PHONE = "+22376999999"


def test_her_menu_in_her_language(woman, dialer) -> None:
    # Given Awa registered on her own phone
    session = dialer(WOMAN_PHONE)
    # When she dials
    menu = session.dial()
    # Then her menu greets her by name
    assert menu.startswith("CON Bonjour Awa Traore\n1 Prochain rendez-vous\n2 Conseils sante")


def test_next_appointment_says_none_yet(woman, dialer) -> None:
    # Given Awa at her menu
    session = dialer(WOMAN_PHONE)
    session.dial()
    # When she asks for her next appointment
    # Then there is none yet, and 0 brings her back
    assert session.answer("1") == "CON Aucun rendez-vous prevu.\n0 Retour"
    assert session.answer("0").startswith("CON Bonjour Awa Traore")


def test_advice_degrades_when_no_text_is_approved(woman, dialer) -> None:
    # Given a library where nothing is approved yet (every text is a draft)
    session = dialer(WOMAN_PHONE)
    session.dial()
    assert "1 Conseil du moment" in session.answer("2")
    # When she asks for her stage advice, then malaria
    stage = session.answer("1")
    session.answer("0")
    malaria = session.answer("5")
    # Then both say kindly that no advice is available yet
    assert stage.startswith("CON Pas de conseil disponible")
    assert malaria.startswith("CON Pas de conseil disponible")


def test_change_language(woman, dialer, db) -> None:
    # Given Awa at her menu
    session = dialer(WOMAN_PHONE)
    session.dial()
    session.answer("3")
    # When she picks Bambara
    menu = session.answer("2")
    # Then her menu is in Bambara and her messages will be too
    assert menu.startswith("CON I ni ce Awa Traore")
    db.expire_all()
    assert db.get(Beneficiary, woman.id).language == "bm"


def test_stop_needs_a_confirmation_then_opts_her_out(woman, dialer, db) -> None:
    # Given Awa with her welcome SMS still queued
    session = dialer(WOMAN_PHONE)
    session.dial()
    # When she chooses to stop, first says no, then yes
    assert "Arreter tous les SMS" in session.answer("4")
    assert session.answer("2").startswith("CON Bonjour Awa Traore")
    session.answer("4")
    final = session.answer("1")
    # Then she is opted out and her queued messages are cancelled
    assert final.startswith("END C'est fait")
    db.expire_all()
    assert db.get(Beneficiary, woman.id).status == BeneficiaryStatus.OPTED_OUT
    phone = db.exec(select(Phone).where(has_number(WOMAN_PHONE))).one()
    assert phone.status == PhoneStatus.OPTED_OUT
    queued = db.exec(select(OutboundMessage).where(addressed_to(WOMAN_PHONE)))
    assert {m.status for m in queued} == {MessageStatus.CANCELLED}


def test_contact_my_chw(woman, dialer) -> None:
    # Given Awa followed by the demo CHW
    session = dialer(WOMAN_PHONE)
    session.dial()
    # When she asks for her health worker
    # Then she gets the name and number
    assert session.answer("5") == (
        "CON Votre agent de sante: Aminata Coulibaly, tel 70 00 00 01.\n0 Retour"
    )


def test_shared_phone_asks_who_is_calling_and_stops_only_her(chw, dialer, db) -> None:
    # Given two women on one household phone
    for name in ("Awa Traore", "Fatou Traore"):
        registry_service.register_pregnancy(
            db,
            name=name,
            phone=WOMAN_PHONE,
            weeks=20,
            chw_id=chw.id,
            phone_kind=PhoneKind.SHARED,
        )
    db.commit()
    session = dialer(WOMAN_PHONE)
    # When the phone dials
    who = session.dial()
    # Then it asks who is calling, and the choice opens her menu
    assert who == "CON Qui appelle ?\n1 Awa Traore\n2 Fatou Traore"
    assert session.answer("2").startswith("CON Bonjour Fatou Traore")
    # And stopping stops only her: the phone stays active for Awa
    session.answer("4")
    session.answer("1")
    db.expire_all()
    statuses = {b.name: b.status for b in db.exec(select(Beneficiary))}
    assert statuses == {"Awa Traore": "active", "Fatou Traore": "opted_out"}
    phone = db.exec(select(Phone).where(has_number(WOMAN_PHONE))).one()
    assert phone.status == PhoneStatus.ACTIVE


def test_unknown_phone_self_registers_as_pending(chw, dialer, db) -> None:
    # Given a phone nobody knows
    session = dialer(UNKNOWN_PHONE)
    intro = session.dial()
    assert intro.startswith("CON Conseils SMS gratuits") and "1 M'inscrire" in intro
    # When she registers herself: name, pregnant 16 weeks, village, consent
    assert session.answer("1") == "CON Votre nom complet:"
    assert "1 Enceinte" in session.answer("Bintou Dembele")
    session.answer("1")
    assert session.answer("16") == "CON Votre village:"
    assert "Acceptez-vous" in session.answer("pelengana")
    final = session.answer("1")
    # Then a pending record exists, with what she said, and only a welcome SMS is queued
    assert final.startswith("END Merci. Un agent de sante confirmera")
    woman = db.exec(select(Beneficiary)).one()
    assert woman.status == BeneficiaryStatus.PENDING and woman.chw_id is None
    pending = db.exec(select(SelfRegistration)).one()
    assert (pending.kind, pending.stated_weeks, pending.village_text) == (
        "pregnancy",
        16,
        "pelengana",
    )
    village = db.get(Site, woman.village_id)
    assert village is not None and village.name == "Pelengana"
    assert db.exec(select(Enrollment)).first() is None
    consent = db.exec(select(Consent)).one()
    assert consent.chw_id is None and consent.beneficiary_id == woman.id
    sms = db.exec(select(OutboundMessage)).one()
    assert sms.to_number == UNKNOWN_PHONE and sms.rendered.startswith("Bienvenue Bintou Dembele")


def test_unknown_phone_in_bambara_with_a_baby(chw, dialer, db) -> None:
    # Given a phone nobody knows, switched to Bambara
    session = dialer(UNKNOWN_PHONE)
    session.dial()
    session.answer("2")
    assert session.answer("2").startswith("CON Kènèya SMS")
    # When she registers as the mother of a 30-month-old, then of a 6-month-old
    session.answer("1")
    session.answer("Bintou Dembele")
    session.answer("2")
    assert session.answer("30").startswith("CON Den porogaramu bè dan kalo 24 la")
    session.answer("6")
    session.answer("Tominian")
    final = session.answer("1")
    # Then the pending record keeps the baby's age and her language
    assert final.startswith("END I ni ce")
    woman = db.exec(select(Beneficiary)).one()
    pending = db.exec(select(SelfRegistration)).one()
    assert woman.language == "bm" and pending.stated_child_months == 6
    assert pending.kind == "infant" and woman.village_id is None


def test_unknown_phone_can_just_leave(db, dialer) -> None:
    # Given a phone nobody knows
    session = dialer(UNKNOWN_PHONE)
    session.dial()
    # When it quits
    # Then the session ends politely and nothing is stored
    assert session.answer("3") == "END Au revoir."
    assert db.exec(select(Beneficiary)).first() is None
