"""End-of-session events: stored once with the last screen, and drop-off per screen."""

from __future__ import annotations

import logging

from sqlmodel import select

from outreach.ussd import service as ussd_service
from outreach.ussd.models import UssdSessionEvent


def test_events_keep_the_last_screen_and_drop_off_counts_by_screen(
    chw, dialer, end_session, db
) -> None:
    # Given three sessions: two dropped at the name question, one finished by quitting
    for attempt in range(2):
        dropped = dialer()
        dropped.dial()
        if attempt:
            # The second call is offered the first one back: she starts again instead.
            dropped.answer("2")
        dropped.answer("1234")
        dropped.answer("1")
        end_session(dropped, "Incomplete")
    done = dialer()
    assert "1 Continuer" in done.dial()
    done.answer("2")
    done.answer("1234")
    done.answer("10")
    end_session(done, "Success")
    # When AT sends the same event twice
    end_session(done, "Success")
    # Then each session is stored once, with the screen it ended on
    events = {e.session_id: e for e in db.exec(select(UssdSessionEvent))}
    assert len(events) == 3
    assert events[done.session_id].last_screen == "bye"
    assert events[done.session_id].duration_ms == 41000
    # And the drop-off report puts the name question first
    report = ussd_service.drop_off_by_screen(db)
    assert (report[0].screen, report[0].sessions, report[0].dropped) == ("reg_name", 2, 2)
    assert report[0].rate == 1.0
    assert any(r.screen == "bye" and r.dropped == 0 for r in report)


def test_logs_mask_the_phone_and_never_name_her(chw, dialer, caplog) -> None:
    # Given a registration typed in full
    caplog.set_level(logging.DEBUG)
    session = dialer()
    session.dial()
    for answer in ("1234", "1", "Awa Traore", "1", "70123456"):
        session.answer(answer)
    # Then no log line carries a full number or her name
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "ussd hop" in text
    assert "+22370000001" not in text and "70123456" not in text
    assert "Awa" not in text
