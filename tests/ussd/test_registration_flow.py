"""The CHW registration flow, driven through POST /callbacks/at/ussd as AT sends it."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from messages.encoding import is_gsm7
from outreach.outbox.models import MessageStatus, OutboundMessage
from outreach.programmes.models import Enrollment
from outreach.registry.models import Beneficiary, Consent, Phone, PhoneKind
from outreach.sites.models import Site
from outreach.timeutil import local_today

CHW_PHONE = "+22370000001"


def test_registration_writes_beneficiary_enrollment_consent_and_two_sms(chw, dialer, db) -> None:
    # Given the demo CHW dials the service code
    session = dialer()
    # When she registers Awa Traore step by step, 20 weeks pregnant, and confirms
    assert "PIN" in session.dial()
    assert "Inscrire une femme enceinte" in session.answer("1234")
    assert "Nom complet" in session.answer("1")
    assert "1 Le sien" in session.answer("Awa Traore")
    assert "numero de telephone" in session.answer("1")
    assert "1 Mois" in session.answer("70 12 34 56")
    assert "Semaines de grossesse" in session.answer("2")
    village_screen = session.answer("20")
    assert village_screen.startswith("CON Village:\n1 Dougounina\n2 Pelengana\n3 Sakoiba")
    assert "Langue de ses SMS" in session.answer("2")
    assert "PDI" in session.answer("1")
    assert "Lisez-lui" in session.answer("1")
    summary = session.answer("1")
    expected_edd = local_today() + timedelta(weeks=20)
    assert "Awa Traore" in summary and "70 12 34 56" in summary
    assert expected_edd.strftime("%d/%m/%Y") in summary and "Pelengana" in summary
    final = session.answer("1")
    # Then the session ends with her code, and one transaction wrote every row
    assert final.startswith("END Inscrite. Code: ")
    woman = db.exec(select(Beneficiary)).one()
    pelengana = db.exec(select(Site).where(Site.name == "Pelengana", Site.level == "village")).one()
    assert (woman.name, woman.chw_id, woman.village_id) == ("Awa Traore", chw.id, pelengana.id)
    assert woman.language == "fr" and woman.displaced is True
    assert final.split("Code: ")[1].startswith(woman.code)
    enrollment = db.exec(select(Enrollment)).one()
    assert enrollment.programme == "pregnancy" and enrollment.anchor_date == expected_edd
    consent = db.exec(select(Consent)).one()
    assert (consent.beneficiary_id, consent.chw_id, consent.channel) == (woman.id, chw.id, "ussd")
    assert consent.text_key == "reg_consent" and consent.text_version == 1
    sms = db.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))).all()
    assert [m.to_number for m in sms] == ["+22370123456", CHW_PHONE]
    assert all(m.status == MessageStatus.QUEUED for m in sms)
    assert sms[0].dedupe_key == f"welcome:{woman.id}"
    assert "Bienvenue Awa Traore" in sms[0].rendered and woman.code in sms[0].body
    assert "Awa" not in sms[0].body and "Awa" not in sms[1].body
    assert woman.code in sms[1].body


def test_pregnancy_given_in_months_or_as_an_edd(chw, dialer, db, to_summary) -> None:
    # Given two registrations, one in months and one with an EDD
    edd = local_today() + timedelta(days=100)
    by_months = dialer()
    to_summary(by_months, name="Mariam Keita", phone="76000001", mode="1", stage="5")
    by_months.answer("1")
    by_edd = dialer()
    to_summary(
        by_edd, name="Fatou Diarra", phone="76000002", mode="3", stage=edd.strftime("%d%m%Y")
    )
    by_edd.answer("1")
    # Then 5 months is 22 weeks, and the EDD is kept as given
    anchors = {
        b.name: e.anchor_date
        for b, e in db.exec(
            select(Beneficiary, Enrollment).where(Enrollment.beneficiary_id == Beneficiary.id)
        )
    }
    assert anchors["Mariam Keita"] == local_today() + timedelta(weeks=40 - 22)
    assert anchors["Fatou Diarra"] == edd


def test_no_phone_sends_her_confirmation_to_the_chw_by_name(chw, dialer, db, to_summary) -> None:
    # Given a woman with no phone, in Bambara
    session = dialer()
    summary = to_summary(session, name="Kadia Sidibe", phone_kind="3", language="2")
    assert "sans telephone" in summary
    # When the CHW confirms
    assert session.answer("1").startswith("END Inscrite")
    # Then no phone row is made for her, and both SMS go to the CHW: hers by name, in Bambara
    woman = db.exec(select(Beneficiary)).one()
    assert woman.phone_id is None and woman.phone_kind == PhoneKind.NONE
    sms = db.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))).all()
    assert [m.to_number for m in sms] == [CHW_PHONE, CHW_PHONE]
    assert sms[0].rendered.startswith("Kadia Sidibe ye") and is_gsm7(sms[0].rendered)


def test_shared_phone_is_recorded_and_addressed_by_name(chw, dialer, db, to_summary) -> None:
    # Given a household phone
    session = dialer()
    summary = to_summary(session, name="Awa Traore", phone_kind="2")
    assert "(partage)" in summary
    session.answer("1")
    # Then she is on it as a shared phone and her SMS names her
    woman = db.exec(select(Beneficiary)).one()
    assert woman.phone_kind == PhoneKind.SHARED
    welcome = db.exec(select(OutboundMessage).where(OutboundMessage.beneficiary_id == woman.id))
    assert "Awa Traore" in welcome.one().rendered


def test_refused_consent_writes_nothing(chw, dialer, db, to_summary) -> None:
    # Given the CHW reads the consent aloud and the woman refuses
    session = dialer()
    reply = to_summary(session, consent="2")
    # Then the session ends kindly and nothing is stored
    assert reply.startswith("END Sans son accord")
    assert db.exec(select(Beneficiary)).first() is None
    assert db.exec(select(OutboundMessage)).first() is None


def test_invalid_phone_is_refused_with_a_french_reason(chw, dialer, db) -> None:
    # Given a CHW at the phone number question
    session = dialer()
    session.dial()
    for answer in ("1234", "1", "Awa Traore", "1"):
        session.answer(answer)
    # When she types numbers that are not Malian mobiles
    for bad in ("123", "abc", "80000000", "+33 1 23 45 67 89", "7012345678901"):
        reply = session.answer(bad)
        # Then the same question comes back with the reason
        assert reply.startswith("CON Numero invalide"), reply
        assert "numero de telephone" in reply
    assert [p.e164 for p in db.exec(select(Phone))] == [CHW_PHONE]


def test_garbled_input_reprompts_and_never_ends_the_session(chw, dialer) -> None:
    # Given a CHW in the flow
    session = dialer()
    session.dial()
    # When she types a bad PIN format, a bad menu choice, bad names and bad weeks
    assert session.answer("12a4").startswith("CON Le PIN a 4 chiffres")
    session.answer("1234")
    assert session.answer("x").startswith("CON Choix invalide")
    session.answer("1")
    for bad_name in (
        "",
        "   ",
        "A" * 200,
        "Robert'); DROP TABLE beneficiary;--",
        "Awa 😀",
        "12345",
        "*" * 100,
    ):
        reply = session.answer(bad_name)
        assert reply.startswith("CON "), reply
        assert "Nom complet" in reply
    session.answer("Awa Traore")
    session.answer("1")
    session.answer("70123456")
    session.answer("2")
    for bad_weeks in ("43", "vingt", "-3", "999", "4 2"):
        reply = session.answer(bad_weeks)
        # Then every answer re-prompts with a reason, within 160 GSM-7 characters
        assert reply.startswith("CON Entrez un nombre de semaines entre 1 et 42"), reply
        assert is_gsm7(reply)


def test_bad_months_and_dates_say_why(chw, dialer) -> None:
    # Given a CHW at the pregnancy questions
    session = dialer()
    session.dial()
    for answer in ("1234", "1", "Awa Traore", "3", "1"):
        session.answer(answer)
    # When she types 10 months, then (by EDD) a past, a far and a garbled date
    assert session.answer("10").startswith("CON Entrez un nombre de mois entre 1 et 9")
    session.answer("0")
    session.answer("3")
    past = (local_today() - timedelta(days=60)).strftime("%d%m%Y")
    far = (local_today() + timedelta(days=400)).strftime("%d%m%Y")
    # Then each is refused with its reason
    assert session.answer(past).startswith("CON Cette date est passee")
    assert session.answer(far).startswith("CON Date trop lointaine")
    assert session.answer("31022026").startswith("CON Date invalide")
    assert session.answer("hier").startswith("CON Date invalide")


def test_name_with_a_star_arrives_whole(chw, dialer) -> None:
    # Given AT joins answers with "*" and does not escape a "*" typed inside one
    session = dialer()
    session.dial()
    session.answer("1234")
    session.answer("1")
    # When the name itself contains "*"
    reply = session.answer("Awa*Traore")
    # Then the engine keeps the answer whole, and refuses it: "*" is not a letter
    assert reply.startswith("CON Utilisez seulement des lettres")


def test_replayed_hop_is_answered_the_same_without_double_registration(
    chw, dialer, db, to_summary
) -> None:
    # Given a registration confirmed once
    session = dialer()
    to_summary(session)
    final = session.answer("1")
    # When the gateway replays the last hop
    again = session.replay()
    # Then the same END screen comes back and nothing is written twice
    assert again == final
    assert len(db.exec(select(Beneficiary)).all()) == 1
    assert len(db.exec(select(OutboundMessage)).all()) == 2


def test_cancel_at_summary_writes_nothing(chw, dialer, db, to_summary) -> None:
    # Given a CHW at the summary
    session = dialer()
    to_summary(session)
    # When she cancels
    reply = session.answer("2")
    # Then nothing is stored
    assert reply.startswith("END Inscription annulee")
    assert db.exec(select(Beneficiary)).first() is None
    assert db.exec(select(OutboundMessage)).first() is None


def test_wrong_pins_lock_the_chw_after_five_tries(chw, dialer) -> None:
    # Given the CHW types wrong PINs
    session = dialer()
    session.dial()
    replies = [session.answer("0000") for _ in range(5)]
    # Then four re-prompts count down, and the fifth locks the account
    assert replies[0].startswith("CON Code PIN incorrect. Essais restants: 4")
    assert replies[3].startswith("CON Code PIN incorrect. Essais restants: 1")
    assert replies[4].startswith("END Compte bloque")
    # And even the right PIN is refused during the lockout
    again = dialer()
    again.dial()
    assert again.answer("1234").startswith("END Compte bloque")


def test_pin_is_asked_once_per_session(chw, dialer) -> None:
    # Given a CHW past the PIN
    session = dialer()
    session.dial()
    session.answer("1234")
    # When she goes into a flow and back to the menu twice
    session.answer("1")
    menu = session.answer("00")
    session.answer("6")
    again = session.answer("00")
    # Then the menu comes back each time, never the PIN
    assert menu.startswith("CON Menu agent") and again.startswith("CON Menu agent")


def test_menu_quit(chw, dialer) -> None:
    # Given a CHW at the menu
    session = dialer()
    session.dial()
    session.answer("1234")
    # When she chooses to quit
    # Then the session ends politely
    assert session.answer("10") == "END Au revoir."
