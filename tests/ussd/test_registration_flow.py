"""The CHW registration flow, driven through POST /callbacks/at/ussd as AT sends it."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from messages.encoding import is_gsm7
from outreach.outbox.models import MessageStatus, OutboundMessage
from outreach.programmes.models import Enrollment
from outreach.registry.models import Beneficiary, Phone
from outreach.timeutil import local_today


def _to_confirm(session, name="Awa Traore", phone="70123456", weeks="20"):
    session.dial()
    session.answer("1234")
    session.answer("1")
    session.answer(name)
    session.answer(phone)
    return session.answer(weeks)


def test_registration_writes_beneficiary_enrollment_and_welcome(chw, dialer, db) -> None:
    # Given the demo CHW dials the service code
    session = dialer()
    # When she registers Awa Traore, 20 weeks pregnant, and confirms
    assert "PIN" in session.dial()
    assert "Inscrire une femme enceinte" in session.answer("1234")
    assert "Nom" in session.answer("1")
    assert "telephone" in session.answer("Awa Traore")
    assert "Semaines" in session.answer("70 12 34 56")
    summary = session.answer("20")
    expected_edd = local_today() + timedelta(weeks=20)
    assert "Awa Traore" in summary and "+22370123456" in summary
    assert expected_edd.strftime("%d/%m/%Y") in summary
    final = session.answer("1")
    # Then the session ends with her code, and one transaction wrote all three rows
    assert final.startswith("END Inscrite. Code: ")
    woman = db.exec(select(Beneficiary)).one()
    assert woman.name == "Awa Traore" and woman.chw_id == chw.id
    assert final.split("Code: ")[1].startswith(woman.code)
    enrollment = db.exec(select(Enrollment)).one()
    assert enrollment.programme == "pregnancy" and enrollment.anchor_date == expected_edd
    welcome = db.exec(select(OutboundMessage)).one()
    assert welcome.to_number == "+22370123456"
    assert welcome.status == MessageStatus.QUEUED
    assert welcome.dedupe_key == f"welcome:{woman.id}"
    assert "Awa Traore" in welcome.body


def test_invalid_phone_is_refused_with_a_french_reason(chw, dialer, db) -> None:
    # Given a CHW at the phone question
    session = dialer()
    session.dial()
    session.answer("1234")
    session.answer("1")
    session.answer("Awa Traore")
    # When she types numbers that are not Malian mobiles
    for bad in ("123", "abc", "80000000", "+33 1 23 45 67 89", "7012345678901"):
        reply = session.answer(bad)
        # Then the same question comes back with the reason
        assert reply.startswith("CON Numero invalide"), reply
        assert "numero de telephone" in reply
    assert db.exec(select(Phone).where(Phone.e164 != "+22370000001")).first() is None


def test_garbled_input_reprompts_and_never_ends_the_session(chw, dialer) -> None:
    # Given a CHW in the flow
    session = dialer()
    session.dial()
    # When she types a bad PIN format, a bad menu choice, bad names and bad weeks
    assert session.answer("12a4").startswith("CON Le PIN a 4 chiffres")
    session.answer("1234")
    assert session.answer("7").startswith("CON Choix invalide")
    session.answer("1")
    for bad_name in (
        "",
        "   ",
        "A" * 200,
        "Robert'); DROP TABLE beneficiary;--",
        "Awa 😀",
        "12345",
    ):
        reply = session.answer(bad_name)
        assert reply.startswith("CON "), reply
        assert "Nom complet" in reply
    session.answer("Awa Traore")
    session.answer("70123456")
    for bad_weeks in ("0", "43", "vingt", "-3", "999"):
        reply = session.answer(bad_weeks)
        # Then every answer re-prompts with a reason, within 160 GSM-7 characters
        assert reply.startswith("CON Entrez un nombre de semaines entre 1 et 42"), reply
        assert is_gsm7(reply)


def test_name_with_a_star_arrives_whole(chw, dialer, db) -> None:
    # Given AT joins answers with "*" and does not escape a "*" typed inside one
    session = dialer()
    _to_confirm(session, name="Awa*Traore")
    # Then the engine compares with what it stored and keeps the answer whole...
    # ...but "*" is not a letter, so the name is refused and asked again
    session2 = dialer()
    session2.dial()
    session2.answer("1234")
    session2.answer("1")
    reply = session2.answer("Awa*Traore")
    assert reply.startswith("CON Utilisez seulement des lettres")


def test_replayed_hop_is_answered_the_same_without_double_registration(chw, dialer, db) -> None:
    # Given a registration confirmed once
    session = dialer()
    _to_confirm(session)
    final = session.answer("1")
    # When the gateway replays the last hop
    again = session.replay()
    # Then the same END screen comes back and nothing is written twice
    assert again == final
    assert len(db.exec(select(Beneficiary)).all()) == 1
    assert len(db.exec(select(OutboundMessage)).all()) == 1


def test_cancel_at_summary_writes_nothing(chw, dialer, db) -> None:
    # Given a CHW at the summary
    session = dialer()
    _to_confirm(session)
    # When she cancels
    reply = session.answer("2")
    # Then nothing is stored
    assert reply.startswith("END Inscription annulee")
    assert db.exec(select(Beneficiary)).first() is None
    assert db.exec(select(OutboundMessage)).first() is None


def test_wrong_pins_lock_the_chw_after_five_tries(chw, dialer, db) -> None:
    # Given the CHW types wrong PINs
    session = dialer()
    session.dial()
    replies = []
    for _ in range(5):
        replies.append(session.answer("0000"))
    # Then four re-prompts count down, and the fifth locks the account
    assert replies[0].startswith("CON Code PIN incorrect. Essais restants: 4")
    assert replies[3].startswith("CON Code PIN incorrect. Essais restants: 1")
    assert replies[4].startswith("END Compte bloque")
    # And even the right PIN is refused during the lockout
    again = dialer()
    again.dial()
    assert again.answer("1234").startswith("END Compte bloque")


def test_unknown_phone_is_told_how_to_join(db, dialer) -> None:
    # Given a phone that belongs to no CHW
    session = dialer("+22376999999")
    # When it dials
    reply = session.dial()
    # Then it gets a short explanation and the session ends
    assert reply.startswith("END Ce numero n'est pas inscrit")


def test_menu_quit(chw, dialer) -> None:
    # Given a CHW at the menu
    session = dialer()
    session.dial()
    session.answer("1234")
    # When she chooses to quit
    # Then the session ends politely
    assert session.answer("2") == "END Au revoir."
