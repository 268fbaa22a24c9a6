"""The engine: paging, navigation (0, 00, 98), resuming a dropped session, long inputs."""

from __future__ import annotations

import time

from sqlmodel import select

from messages.encoding import is_gsm7
from outreach.redis import get_redis
from outreach.registry.models import Beneficiary
from outreach.ussd.engine import CON, END, Engine, SessionStore, latest_answer, paginate
from outreach.ussd.flows import MAIN_FLOW


def test_latest_answer_is_what_was_appended_even_with_stars() -> None:
    # Given the text we stored and the text AT sends next
    # Then the new answer is what was appended, a "*" inside it included
    assert latest_answer("", "1") == "1"
    assert latest_answer("1*2", "1*2*Awa*Traore") == "Awa*Traore"
    assert latest_answer("1*2", "1*2") is None
    # And when the histories disagree (a lost hop) the last segment is trusted
    assert latest_answer("1*2", "9*9*3") == "3"


def test_a_long_screen_is_cut_in_pages_of_160_with_a_next_page_line() -> None:
    # Given a body of 30 numbered lines
    body = "Villages:\n" + "\n".join(f"{i} Village numero {i}" for i in range(1, 31))
    # When it is paginated
    pages = paginate(body, "fr")
    # Then every page fits 160 characters with "CON ", all but the last say "98 Suite"
    assert len(pages) > 3
    assert all(len(CON + page) <= 160 and is_gsm7(page) for page in pages)
    assert all(page.endswith("\n98 Suite") for page in pages[:-1])
    assert not pages[-1].endswith("98 Suite")
    # And no line is lost or cut
    lines = [line for page in pages for line in page.split("\n") if line != "98 Suite"]
    assert lines == body.split("\n")


def test_a_single_long_line_is_cut_between_words() -> None:
    # Given a 400-character paragraph in Bambara with letters outside GSM-7
    body = " ".join(["Kɛnɛya ladilikan"] * 25)
    # When it is paginated
    pages = paginate(body, "bm", prefix=END)
    # Then every page fits, in the GSM-safe spelling, and words stay whole
    assert all(len(CON + page) <= 160 and is_gsm7(page) for page in pages)
    assert all("Kènèya" in page for page in pages[:-1])


def test_98_turns_pages_and_answers_on_any_page_are_understood(chw, woman, db, dialer) -> None:
    # Given 12 more women registered by the CHW, so "Mes inscrites" needs several pages
    from outreach.registry import service as registry_service

    for i in range(12):
        registry_service.register_pregnancy(
            db, name=f"Femme Numero {chr(65 + i)}", phone=None, weeks=10 + i, chw_id=chw.id
        )
    db.commit()
    session = dialer()
    session.dial()
    session.answer("1234")
    # When the CHW opens her list and turns the pages
    first = session.answer("6")
    second = session.answer("98")
    # Then each page is a different part of the list, with "98 Suite"
    assert first.startswith("CON Mes inscrites:\n1 ") and first.endswith("98 Suite")
    assert second != first and second.startswith("CON ")
    # And the number of a woman on the second page opens her card
    number = second.removeprefix("CON ").split("\n")[0].split(" ")[0]
    assert number.isdigit() and int(number) > 1
    card = session.answer(number)
    assert card.startswith("CON Femme Numero") or card.startswith("CON Awa Traore")


def test_0_goes_back_and_00_goes_to_the_main_menu(chw, dialer) -> None:
    # Given a CHW three screens into a registration
    session = dialer()
    session.dial()
    session.answer("1234")
    session.answer("1")
    session.answer("Awa Traore")
    assert "numero de telephone" in session.answer("1")
    # When she goes back twice, then forward again
    assert "Son telephone" in session.answer("0")
    assert "Nom complet" in session.answer("0")
    # Then the screens come back in order, and 00 returns to the main menu
    assert session.answer("00").startswith("CON Menu agent")
    # And 0 on the main menu stays there
    assert session.answer("0").startswith("CON Menu agent")


def test_a_dropped_session_is_offered_back_and_continues(chw, dialer, end_session, db) -> None:
    # Given a CHW who got to the village question when the network dropped her
    first = dialer()
    first.dial()
    for answer in ("1234", "1", "Awa Traore", "3", "2", "20"):
        first.answer(answer)
    end_session(first, "Incomplete")
    # When she dials again within the window
    second = dialer()
    offer = second.dial()
    # Then she is offered to continue, and continuing shows the village question again
    assert offer == "CON Votre derniere session a ete coupee.\n1 Continuer\n2 Recommencer"
    assert second.answer("1").startswith("CON Village:")
    for answer in ("1", "1", "2", "1"):
        second.answer(answer)
    assert second.answer("1").startswith("END Inscrite")
    assert db.exec(select(Beneficiary)).one().name == "Awa Traore"
    # And once finished, a third call starts afresh at the PIN
    assert "PIN" in dialer().dial()


def test_redis_holds_no_number_name_or_screen_of_a_session(chw, dialer, end_session) -> None:
    # Given a CHW who typed a woman's name and number, then was cut off mid-flow
    first = dialer()
    first.dial()
    for answer in ("1234", "1", "Awa Traore", "1", "70 12 34 56"):
        first.answer(answer)
    end_session(first, "Incomplete")
    # When every key and value Redis holds is read raw
    redis = get_redis()
    raw = b" ".join(
        key + b" " + (redis.get(key) or b"")
        for key in redis.scan_iter("ussd:*")
        if redis.type(key) == b"string"
    )
    # Then the session is there, but neither number, her name nor a screen can be read
    assert b"ussd:resume:" in raw and b"ussd:session:" in raw
    for needle in (b"70000001", b"70123456", b"70 12 34 56", b"Awa", b"Traore", b"Village"):
        assert needle not in raw
    # And the dropped session is still offered back to the same phone
    assert "1 Continuer" in dialer().dial()


def test_start_again_forgets_the_dropped_session(chw, dialer) -> None:
    # Given a session left without a final reply (no end event at all)
    first = dialer()
    first.dial()
    for answer in ("1234", "1", "Awa Traore"):
        first.answer(answer)
    # When the same phone calls back and chooses to start again
    second = dialer()
    assert "1 Continuer" in second.dial()
    # Then it starts at the PIN, and the next call is not offered anything
    assert "PIN" in second.answer("2")
    assert "PIN" in dialer().dial()


def test_a_session_that_ended_normally_is_not_offered(chw, dialer, end_session) -> None:
    # Given a session that ended on our END screen
    first = dialer()
    first.dial()
    first.answer("1234")
    first.answer("10")
    end_session(first, "Success")
    # When the phone calls again
    # Then it starts at the PIN
    assert "PIN" in dialer().dial()


def test_the_resume_window_closes(chw, db) -> None:
    # Given an engine with a one-second resume window
    store = SessionStore(get_redis(), ttl_seconds=300, resume_seconds=1)
    engine = Engine(MAIN_FLOW, store)
    phone = "+22370000001"
    engine.handle(db, session_id="w1", phone=phone, text="")
    engine.handle(db, session_id="w1", phone=phone, text="1234")
    engine.handle(db, session_id="w1", phone=phone, text="1234*1")
    assert "1 Continuer" in engine.handle(db, session_id="w2", phone=phone, text="")
    # When the phone calls back after the window
    time.sleep(1.2)
    # Then no resume is offered
    assert "PIN" in engine.handle(db, session_id="w3", phone=phone, text="")


def test_a_hundred_stars_and_200_characters_reprompt(chw, client) -> None:
    # Given raw hops as AT could send them
    def hop(text: str, session_id: str = "stars") -> str:
        response = client.post(
            "/callbacks/at/ussd",
            data={
                "sessionId": session_id,
                "serviceCode": "*384*123#",
                "phoneNumber": "+22370000001",
                "networkCode": "99999",
                "text": text,
            },
        )
        assert response.status_code == 200
        return response.text

    # When the first hop already carries a hundred stars, then 200 characters
    first = hop("*" * 100)
    second = hop("*" * 100 + "*" + "9" * 200)
    # Then each is answered with a screen, never an error
    assert first.startswith("CON ") and "PIN" in first
    assert second.startswith("CON Reponse trop longue")
    assert len(second) <= 160
