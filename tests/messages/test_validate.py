"""The content validator: gaps, one segment in the sent form, at most two a week, reviews."""

from __future__ import annotations

import dataclasses
from datetime import date

from messages import texts
from messages.schedule import CADENCE, programme_week
from messages.texts import Message
from messages.validate import summarise, validate

GSM = {"fr": True, "bm": True}


def content() -> dict[str, Message]:
    return dict(texts.load())


def errors(messages: dict[str, Message], **kwargs: object) -> list[str]:
    options: dict[str, object] = {"gsm_safe": GSM, "send_drafts": True, **kwargs}
    return [str(p) for p in validate(messages, **options) if p.severity == "error"]  # type: ignore[arg-type]


def test_the_shipped_content_has_no_gap_and_fits_one_segment() -> None:
    # Given the shipped library, every message counted whatever its review
    # When it is validated with the GSM-safe spelling sent in both languages
    found = errors(content())
    # Then no due week lacks a message, none needs two segments, none breaks a rule
    assert found == []


def test_every_due_week_has_a_message_in_each_programme() -> None:
    # Given the shipped programme messages
    weeks: dict[str, set[int]] = {"pregnancy": set(), "infant": set()}
    for message in content().values():
        if message.offset_days is not None:
            weeks[message.programme].add(programme_week(message.programme, message.offset_days))
    # Then the cadence is covered: weeks 8-40 of pregnancy, weeks 0-104 of age
    for programme, cadence in CADENCE.items():
        assert set(cadence) <= weeks[programme], programme


def test_drafts_leave_approval_gaps_when_only_approved_messages_may_go() -> None:
    # Given the shipped library, all still drafts awaiting health staff
    # When it is validated as production does (drafts never sent)
    found = errors(content(), send_drafts=False)
    # Then every due week is reported as lacking an approved message
    assert "error: pregnancy: gap: no approved message at week 8" in found
    assert len(found) == len(CADENCE["pregnancy"]) + len(CADENCE["infant"])


def test_an_approved_week_closes_its_approval_gap() -> None:
    # Given week 8 approved by a named reviewer on a date
    messages = content()
    messages["preg_w08"] = dataclasses.replace(
        messages["preg_w08"],
        review_status="approved",
        reviewer="Dr Diarra",
        reviewed_on=date(2026, 11, 1),
    )
    # When validated with drafts refused
    found = errors(messages, send_drafts=False)
    # Then week 8 is no longer a gap, week 9 still is
    assert not any("week 8" in f and f.startswith("error: pregnancy") for f in found)
    assert "error: pregnancy: gap: no approved message at week 9" in found


def test_a_missing_week_is_a_gap_whatever_the_setting() -> None:
    # Given the library without its week-20 pregnancy message
    messages = content()
    del messages["preg_w20"]
    # When validated, drafts allowed
    found = errors(messages)
    # Then the gap is reported
    assert found == ["error: pregnancy: gap: no message at week 20"]


def test_a_message_too_long_for_one_segment_fails() -> None:
    # Given a week-12 text that fits alone but not behind a 20-character name
    messages = content()
    long_text = "a" * 150
    messages["preg_w12"] = dataclasses.replace(
        messages["preg_w12"], texts={"fr": long_text, "bm": long_text, "bm_gsm": long_text}
    )
    # When validated
    found = errors(messages)
    # Then both languages are reported with their encoding and size
    assert len(found) == 2
    assert all("preg_w12" in f and "2 segments" in f and "GSM-7" in f for f in found)


def test_sending_the_standard_bambara_spelling_breaks_the_one_segment_rule() -> None:
    # Given the shipped library
    # When the setting sends Bambara in its standard orthography (ɛ ɔ: UCS-2)
    found = errors(content(), gsm_safe={"fr": True, "bm": False})
    # Then the messages that no longer fit 70 characters are reported, French untouched
    assert found
    assert all("bm (original spelling)" in f and "UCS-2" in f for f in found)


def test_more_than_two_messages_in_a_week_fails() -> None:
    # Given two extra messages in pregnancy week 10
    messages = content()
    for extra in ("x1", "x2"):
        messages[extra] = dataclasses.replace(messages["preg_w10"], key=extra)
    # When validated
    found = errors(messages)
    # Then the week is reported with its three keys
    assert found == ["error: pregnancy: 3 messages at week 10 (preg_w10, x1, x2); at most 2"]


def test_approval_needs_a_reviewer_and_a_date() -> None:
    # Given a message marked approved by nobody
    messages = content()
    messages["inf_w010"] = dataclasses.replace(messages["inf_w010"], review_status="approved")
    # When validated
    # Then it is refused
    assert errors(messages) == ["error: infant/inf_w010: approved without a reviewer and a date"]


def test_a_bm_gsm_text_outside_gsm7_fails() -> None:
    # Given a GSM-safe Bambara spelling that still has an ɛ
    messages = content()
    texts = dict(messages["inf_w011"].texts, bm_gsm="I ka kɛnɛ wa?")
    messages["inf_w011"] = dataclasses.replace(messages["inf_w011"], texts=texts)
    # When validated
    # Then it is reported
    assert errors(messages) == ["error: infant/inf_w011: bm_gsm has characters outside GSM-7"]


def test_summary_counts_segments_per_language_and_spelling() -> None:
    # Given the shipped library
    rows = {(r.programme, r.language, r.gsm_safe): r for r in summarise(content(), gsm_safe=GSM)}
    # When the pregnancy rows are read
    sent_fr = rows[("pregnancy", "fr", True)]
    standard_bm = rows[("pregnancy", "bm", False)]
    # Then the sent spellings cost one segment a message, the standard Bambara more
    assert sent_fr.sent and sent_fr.segments == sent_fr.count and sent_fr.encodings == ("GSM-7",)
    assert not standard_bm.sent and standard_bm.segments > standard_bm.count
    assert standard_bm.missing_approvals == standard_bm.count
