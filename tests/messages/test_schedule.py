"""Due messages as a pure function of (anchor, programme, day), across the 1,000 days."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from messages import texts
from messages.schedule import (
    CADENCE,
    LATE_WINDOW_DAYS,
    Slot,
    current,
    due_on,
    programme_week,
    send_day,
    slots,
    stage_week,
)

SCHEDULE = slots(texts.load().values(), include_drafts=True)
KEYS = {s.key: s for s in SCHEDULE}


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def journey(
    *, edd: date, registered: date, birth: date | None, until: date, loss: date | None = None
) -> list[tuple[date, Slot]]:
    """Every (day, message) of one woman: pregnancy, then infant from the real birth date."""
    received = []
    for day in days(registered, until):
        if loss is not None and day >= loss:
            break
        if birth is None or day < birth:
            received += [
                (day, s)
                for s in due_on(
                    SCHEDULE, programme="pregnancy", anchor=edd, day=day, start=registered
                )
            ]
        else:
            # The birth is recorded on the day it happens: the infant programme starts then.
            received += [
                (day, s)
                for s in due_on(SCHEDULE, programme="infant", anchor=birth, day=day, start=birth)
            ]
    return received


def test_the_whole_1000_days_one_message_a_week_and_never_twice() -> None:
    # Given a woman registered at week 8, delivering on her EDD, followed to 24 months
    edd = date(2027, 6, 30)
    registered = edd - timedelta(weeks=32)
    until = edd + timedelta(weeks=105)
    # When every day of the 1,000 days is computed
    received = journey(edd=edd, registered=registered, birth=edd, until=until)
    # Then each message arrives exactly once, on its day
    keys = [s.key for _, s in received]
    assert len(keys) == len(set(keys))
    pregnancy = {s.key for s in SCHEDULE if s.programme == "pregnancy" and s.offset_days < 0}
    infant = {s.key for s in SCHEDULE if s.programme == "infant"}
    assert set(keys) == pregnancy | infant
    for day, slot in received:
        anchor = edd
        assert (
            send_day(
                anchor=anchor,
                offset_days=slot.offset_days,
                start=registered if slot.programme == "pregnancy" else edd,
            )
            == day
        )
    # and every programme week of the cadence gets one, none more than two
    weeks = Counter(
        (s.programme, stage_week(s.programme, anchor=edd, day=day)) for day, s in received
    )
    for programme, cadence in CADENCE.items():
        for week in cadence:
            if programme == "pregnancy" and week >= 40:
                continue  # the birth on the EDD moved her to the infant programme
            assert 1 <= weeks[(programme, week)] <= 2, (programme, week)
    assert len(received) > 130


def test_rerunning_a_day_gives_the_same_messages() -> None:
    # Given a pregnancy and a day
    edd, day = date(2027, 3, 1), date(2026, 11, 30)
    # When the day is computed twice
    first = due_on(SCHEDULE, programme="pregnancy", anchor=edd, day=day, start=date(2026, 9, 1))
    second = due_on(SCHEDULE, programme="pregnancy", anchor=edd, day=day, start=date(2026, 9, 1))
    # Then nothing changes: it depends on the dates only
    assert first == second
    assert [s.key for s in first] == [f"preg_w{programme_week('pregnancy', (day - edd).days):02d}"]


def test_a_late_registrant_starts_at_her_current_stage_without_back_messages() -> None:
    # Given a woman registered three days into pregnancy week 24
    edd = date(2027, 5, 1)
    week_24 = edd - timedelta(weeks=16)
    registered = week_24 + timedelta(days=3)
    # When her first fortnight is computed
    received = journey(
        edd=edd, registered=registered, birth=None, until=registered + timedelta(days=13)
    )
    # Then her registration day brings this week's message only, then one a week
    assert [(d - registered).days for d, _ in received] == [0, 4, 11]
    assert [s.key for _, s in received] == ["preg_w24", "preg_w25", "preg_w26"]


def test_a_registration_late_in_the_week_still_gets_the_week_but_nothing_older() -> None:
    # Given a woman registered on the last day of week 30 (6 days after its message)
    edd = date(2027, 5, 1)
    registered = edd - timedelta(weeks=10) + timedelta(days=LATE_WINDOW_DAYS)
    # When her registration day is computed
    due = due_on(SCHEDULE, programme="pregnancy", anchor=edd, day=registered, start=registered)
    # Then she gets week 30's message, and a start one day later would not
    assert [s.key for s in due] == ["preg_w30"]
    later = registered + timedelta(days=1)
    assert [
        s.key for s in due_on(SCHEDULE, programme="pregnancy", anchor=edd, day=later, start=later)
    ] == ["preg_w31"]


def test_a_birth_before_the_edd_moves_her_to_the_infant_programme_from_the_real_birth() -> None:
    # Given a woman registered at week 12 who delivers at 35 weeks
    edd = date(2027, 8, 10)
    birth = edd - timedelta(weeks=5)
    received = journey(
        edd=edd, registered=edd - timedelta(weeks=28), birth=birth, until=birth + timedelta(weeks=3)
    )
    # When her messages around the birth are read
    before = [s.key for d, s in received if d < birth]
    after = [(d, s) for d, s in received if d >= birth]
    # Then no pregnancy message follows the birth (weeks 35 to 42 are never sent)
    assert before[-1] == "preg_w34"
    assert all(s.programme == "infant" for _, s in after)
    # and the infant messages are counted from the real birth date, not the EDD
    assert [((d - birth).days, s.key) for d, s in after][:3] == [
        (0, "inf_d000"),
        (3, "inf_d003"),
        (7, "inf_w001"),
    ]


def test_a_birth_recorded_days_later_sends_the_newborn_messages_without_flooding() -> None:
    # Given a birth recorded 5 days after it happened
    birth = date(2027, 1, 10)
    recorded = birth + timedelta(days=5)
    # When the recording day is computed
    due = due_on(SCHEDULE, programme="infant", anchor=birth, day=recorded, start=recorded)
    # Then the two first-week messages come that day, at most two
    assert [s.key for s in due] == ["inf_d000", "inf_d003"]


def test_after_a_loss_nothing_more_is_due() -> None:
    # Given a woman who lost her pregnancy at week 22
    edd = date(2027, 9, 1)
    loss = edd - timedelta(weeks=18)
    # When her journey is computed through to the EDD
    received = journey(
        edd=edd, registered=edd - timedelta(weeks=32), birth=None, until=edd, loss=loss
    )
    # Then messages stop on the day of the loss
    assert max(d for d, _ in received) < loss
    assert received[-1][1].key == "preg_w21"


def test_current_stage_message_is_the_latest_already_due() -> None:
    # Given an infant aged 26 weeks and 3 days
    birth = date(2026, 5, 1)
    day = birth + timedelta(weeks=26, days=3)
    # When the current message is asked for (advice again)
    slot = current(SCHEDULE, programme="infant", anchor=birth, day=day)
    # Then it is the week-26 message
    assert slot is not None and slot.key == "inf_w026"
    # and before week 8 of pregnancy there is none
    assert (
        current(SCHEDULE, programme="pregnancy", anchor=day + timedelta(weeks=35), day=day) is None
    )


def test_drafts_are_not_scheduled_unless_allowed() -> None:
    # Given the shipped library (all drafts)
    # When the schedule is built for approved messages only
    # Then it is empty: nothing unreviewed is ever sent
    assert slots(texts.load().values(), include_drafts=False) == []
    assert KEYS["preg_w08"].offset_days == -224
