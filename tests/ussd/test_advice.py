"""Advice on demand from the content library: approved texts only, drafts where allowed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from messages import texts
from messages.encoding import is_gsm7
from outreach.ussd import advice

TODAY = date(2026, 3, 1)


def _approve(messages):
    return [replace(m, review_status=texts.APPROVED) for m in messages]


def test_topics_come_from_their_topic_set_or_tags_and_need_approval() -> None:
    # Given the real library, where everything is still a draft
    messages = list(texts.load().values())
    # Then nothing is shown while only approved texts count
    assert advice.topic_texts("malaria", "fr", messages, include_drafts=False) == []
    # And once approved, malaria comes from its topic set and feeding from the tags
    approved = _approve(messages)
    malaria = advice.topic_texts("malaria", "bm", approved, include_drafts=False)
    feeding = advice.topic_texts(
        "feeding", "fr", approved, include_drafts=False, programme="infant"
    )
    assert 1 <= len(malaria) <= 3 and all(is_gsm7(t) for t in malaria)
    assert 1 <= len(feeding) <= 3
    malaria_set = {m.text("bm") for m in texts.topic_set("malaria")}
    assert set(malaria) <= malaria_set


def test_stage_advice_is_the_latest_message_already_due() -> None:
    # Given a pregnancy due in 20 weeks (so at week 20) and every text approved
    approved = _approve(list(texts.load().values()))
    edd = TODAY + timedelta(weeks=20)
    # When her stage advice is asked
    text = advice.stage_text("pregnancy", anchor=edd, today=TODAY, language="fr", messages=approved)
    # Then it is the pregnancy message with the greatest due point not after today
    due = [
        m
        for m in approved
        if m.programme == "pregnancy" and m.offset_days is not None and m.offset_days <= -140
    ]
    best = max(due, key=lambda m: (m.offset_days or 0, m.key))
    assert text == best.text("fr")
    # And nothing is due before the programme starts
    early = advice.stage_text(
        "pregnancy",
        anchor=TODAY + timedelta(weeks=39),
        today=TODAY,
        language="fr",
        messages=approved,
    )
    assert early is None


def test_feeding_advice_follows_her_stage() -> None:
    # Given every text approved
    approved = _approve(list(texts.load().values()))
    by_text = {m.text("fr"): m for m in approved}
    # When a pregnant woman and a mother of an infant ask for feeding advice
    pregnant = advice.topic_texts("feeding", "fr", approved, programme="pregnancy")
    mother = advice.topic_texts("feeding", "fr", approved, programme="infant")
    # Then each gets her own programme's messages: no newborn advice during pregnancy
    assert pregnant and all(by_text[t].programme == "pregnancy" for t in pregnant)
    assert mother and all(by_text[t].programme == "infant" for t in mother)
    assert not any("Félicitations" in t for t in pregnant)
    # And with no active programme (after a loss) there is no feeding advice at all
    assert advice.topic_texts("feeding", "fr", approved, programme=None) == []
