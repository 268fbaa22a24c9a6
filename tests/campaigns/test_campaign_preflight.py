"""The composer's preflight: audience, counts per language, encodings, segments, cost, samples."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import event
from sqlmodel import Session, func, select

from messages.encoding import is_gsm7, segment_info
from outreach.audit.models import AuditEntry
from outreach.campaigns.placeholders import BUDGET
from outreach.campaigns.preflight import preflight, rewrite_gsm_safe
from outreach.campaigns.schemas import PreflightIn
from outreach.outbox.models import OutboundMessage
from outreach.programmes.costs import months_before
from outreach.registry.models import PhoneKind
from outreach.timeutil import local_today

FR = "Séance de sensibilisation hygiène jeudi au CSCom."
BM = "Saniya kalan bɛ kɛ CSCom la jumadon."


def body(audience: dict | None = None, **message: object) -> PreflightIn:
    return PreflightIn.model_validate({"audience": audience or {}, **message})


def test_audience_by_village_and_region_language_and_displaced(db: Session, places, woman) -> None:
    # Given displaced and settled women in two villages of Ségou, one in Mopti
    woman(places.village_a, displaced=True, language="fr")
    woman(places.village_a, displaced=True, language="bm")
    woman(places.village_b, displaced=True, language="bm")
    woman(places.village_b, displaced=False, language="fr")
    woman(places.village_far, displaced=True, language="fr")
    db.commit()
    texts = {"texts": {"fr": FR, "bm": BM}}

    # When the audience is the two villages, displaced only
    two_villages = preflight(
        db,
        draft=body(
            {"site_ids": [places.village_a.id, places.village_b.id], "displaced": True}, **texts
        ),
    )
    # Then the three displaced women there count, per language
    assert two_villages.recipients == 3
    assert {k: v.recipients for k, v in two_villages.by_language.items()} == {"fr": 1, "bm": 2}

    # And a region covers every village under it; a language filter narrows it
    region = preflight(db, draft=body({"site_ids": [places.region.id]}, **texts))
    assert region.recipients == 4
    bambara = preflight(
        db, draft=body({"site_ids": [places.region.id], "languages": ["bm"]}, **texts)
    )
    assert bambara.recipients == 2
    settled = preflight(db, draft=body({"displaced": False}, **texts))
    assert settled.recipients == 1
    everyone = preflight(db, draft=body({}, **texts))
    assert everyone.recipients == 5


def test_stage_ranges_in_weeks_and_months(db: Session, places, woman) -> None:
    # Given women at pregnancy weeks 15, 20, 30 and 31, and infants of 5, 6, 12 and 13 months
    today = local_today()
    for weeks in (15, 20, 30, 31):
        woman(places.village_a, weeks=weeks)
    for months in (5, 6, 12, 13):
        woman(places.village_a, infant_birth=months_before(today, months) - timedelta(days=3))
    db.commit()
    message = {"texts": {"fr": FR}}

    # When the audience is pregnant 20-30 weeks, then infants 6-12 months
    pregnant = preflight(
        db, draft=body({"programme": "pregnancy", "stage_from": 20, "stage_to": 30}, **message)
    )
    infants = preflight(
        db,
        draft=body(
            {"programme": "infant", "stage_from": 6, "stage_to": 12, "stage_unit": "months"},
            **message,
        ),
    )

    # Then each range holds exactly its two ends
    assert pregnant.recipients == 2
    assert infants.recipients == 2


def test_consent_and_opt_out_are_always_enforced(db: Session, places, woman) -> None:
    # Given one woman who can be reached, and others who cannot or must not be
    woman(places.village_a)
    woman(places.village_a, status="opted_out")
    woman(places.village_a, status="pending")
    woman(places.village_a, phone_status="opted_out")
    woman(places.village_a, phone_status="invalid")
    woman(places.village_a, enrollment_status="stopped")
    db.commit()

    # When any audience is priced
    result = preflight(db, draft=body({}, texts={"fr": FR}))

    # Then only the consenting, reachable one counts
    assert result.recipients == 1


def test_encoding_segments_chars_left_cost_and_rewrite(db: Session, places, woman) -> None:
    # Given two French and three Bambara recipients (25 XOF a segment by default)
    for language in ("fr", "fr", "bm", "bm", "bm"):
        woman(places.village_a, language=language)
    db.commit()

    # When the Bambara text is written in its standard spelling (ɛ is not GSM-7)
    result = preflight(db, draft=body({}, texts={"fr": FR, "bm": BM}))

    # Then French is one GSM-7 segment with its characters left
    fr = result.by_language["fr"]
    assert (fr.encoding, fr.segments, fr.chars_left) == ("GSM-7", 1, 160 - len(FR))
    assert fr.warning is None and fr.ucs2_chars == []
    # And Bambara is UCS-2, naming the character, with a GSM-safe rewrite offered
    bm = result.by_language["bm"]
    assert (bm.encoding, bm.segments, bm.chars_left) == ("UCS-2", 1, 70 - len(BM))
    assert bm.ucs2_chars == ["ɛ"]
    assert bm.warning is not None and "« ɛ »" in bm.warning and "UCS-2" in bm.warning
    assert bm.gsm_safe_text == "Saniya kalan bè kè CSCom la jumadon."
    assert is_gsm7(bm.gsm_safe_text)
    # And the cost is recipients x segments x price
    assert fr.cost_xof == 2 * 25 and bm.cost_xof == 3 * 25
    assert result.cost_xof == 125
    assert result.as_dict()["cost_xof"] == 125.0


def test_one_character_that_doubles_the_cost_is_reported_and_rewritten(
    db: Session, places, woman
) -> None:
    # Given 100 GSM-7 characters of French with one typographic apostrophe
    woman(places.village_a)
    db.commit()
    text = "Rendez-vous au CSCom l’après-midi " + "x" * 66

    # When it is priced
    info = preflight(db, draft=body({}, texts={"fr": text})).by_language["fr"]

    # Then it is two UCS-2 segments, and the one-call rewrite makes it one GSM-7 segment
    assert (info.encoding, info.segments, info.ucs2_chars) == ("UCS-2", 2, ["’"])
    rewritten = rewrite_gsm_safe(text, "fr")
    assert rewritten == info.gsm_safe_text
    assert segment_info(rewritten).segments == 1 and "l'après" in rewritten


def test_placeholders_are_budgeted_and_samples_rendered(
    db: Session, places, woman, chw_relay
) -> None:
    # Given Awa (own phone), Fanta (a shared phone) and Kadia (no phone: her CHW relays)
    woman(places.village_a, name="Awa Traoré")
    woman(places.village_b, name="Fanta Diarra", phone_kind=PhoneKind.SHARED)
    woman(places.village_b, name="Kadia Sangaré", phone_kind=PhoneKind.NONE, chw=chw_relay)
    db.commit()
    text = "Bonjour {prenom}, séance jeudi à {site}."

    # When the composer previews a text with placeholders
    result = preflight(db, draft=body({}, texts={"fr": text}))

    # Then characters left count each placeholder at its longest
    longest = len(text) - len("{prenom}{site}") + BUDGET["prenom"] + BUDGET["site"]
    assert result.by_language["fr"].chars_left == 160 - longest
    # And three samples read as they will be sent, addressed as the programme does
    assert [s.text for s in result.samples] == [
        "Bonjour Awa, séance jeudi à Sébougou.",
        "Pour Fanta Diarra: Bonjour Fanta, séance jeudi à Dar Salam.",
        "Pour Kadia Sangaré: Bonjour Kadia, séance jeudi à Dar Salam.",
    ]
    assert [s.addressing for s in result.samples] == ["own", "shared", "chw"]
    # And numbers are masked
    assert all("*" in s.to for s in result.samples)


def test_samples_show_both_languages(db: Session, places, woman) -> None:
    # Given French and Bambara speakers
    for language in ("fr", "fr", "fr", "bm"):
        woman(places.village_a, language=language)
    db.commit()

    # When the preflight draws samples
    result = preflight(db, draft=body({}, texts={"fr": FR, "bm": "Saniya kalan."}))

    # Then the Bambara speaker's sample is among the three, in Bambara
    assert len(result.samples) == 3
    assert [s.language for s in result.samples].count("bm") == 1
    assert "Saniya kalan." in [s.text for s in result.samples]


def test_a_content_key_is_priced_in_its_sent_spelling(
    db: Session, places, woman, drafts_allowed
) -> None:
    # Given a Bambara speaker
    woman(places.village_a, language="bm")
    db.commit()

    # When the message is the library's handwashing text
    result = preflight(db, draft=body({}, content_key="hyg_handwash_times"))

    # Then its GSM-safe Bambara is priced: GSM-7, no warning
    assert result.by_language["bm"].encoding == "GSM-7"
    assert result.by_language["bm"].warning is None
    assert result.samples[0].text.startswith("I bolo ko ni safunè")


def test_missing_bambara_falls_back_to_french(db: Session, places, woman) -> None:
    # Given a Bambara speaker and a French-only text
    woman(places.village_a, language="bm")
    db.commit()

    # When it is priced
    result = preflight(db, draft=body({}, texts={"fr": FR}))

    # Then she is counted, flagged as receiving the French text
    assert result.by_language["bm"].falls_back_to_french
    assert result.samples[0].text == FR


def test_an_unreviewed_library_text_is_refused_where_drafts_are_not_sent() -> None:
    # Given the test settings, which send approved texts only
    # When a campaign picks an unreviewed library text
    # Then it is refused
    with pytest.raises(ValidationError, match="pas encore approuvé"):
        body({}, content_key="hyg_handwash_times")


def test_unknown_placeholders_and_bad_bodies_are_refused(drafts_allowed) -> None:
    # Given texts with a placeholder the service does not know, or a stray brace
    # When they are validated
    # Then a French message names the problem
    with pytest.raises(ValidationError, match="variable inconnue"):
        body({}, texts={"fr": "Bonjour {nom}"})
    with pytest.raises(ValidationError, match="accolade"):
        body({}, texts={"fr": "Bonjour {prenom"})
    with pytest.raises(ValidationError, match="français est obligatoire"):
        body({}, texts={"bm": "I ni ce"})
    with pytest.raises(ValidationError, match="pas les deux"):
        body({}, texts={"fr": FR}, content_key="hyg_handwash_times")
    with pytest.raises(ValidationError, match="bibliothèque"):
        body({}, content_key="nope")
    with pytest.raises(ValidationError, match="programme"):
        body({"stage_from": 20})
    with pytest.raises(ValidationError, match="semaines"):
        body({"programme": "pregnancy", "stage_unit": "months", "stage_from": 3})


def test_preflight_writes_nothing(db: Session, places, woman) -> None:
    # Given an audience
    woman(places.village_a)
    db.commit()

    # When the preflight runs
    preflight(db, draft=body({}, texts={"fr": "Bonjour {prenom}"}))

    # Then no outbox row and no audit entry was written
    assert db.exec(select(func.count()).select_from(OutboundMessage)).one() == 0
    assert db.exec(select(func.count()).select_from(AuditEntry)).one() == 0
    assert not db.new and not db.dirty


def test_audience_by_upcoming_appointment_kind(db: Session, places, woman) -> None:
    # Given three women: a vaccination next week, one last week (past), an ANC visit next week
    from outreach.appointments.models import Appointment

    today = local_today()
    soon, past, anc = (woman(places.village_a) for _ in range(3))
    for who, kind, due in (
        (soon, "vaccination", today + timedelta(days=7)),
        (past, "vaccination", today - timedelta(days=7)),
        (anc, "anc", today + timedelta(days=7)),
    ):
        db.add(Appointment(dedupe_key=f"t:{who.id}", beneficiary_id=who.id, kind=kind, due_on=due))
    # and one with a vaccination in two months
    later = woman(places.village_a)
    db.add(
        Appointment(
            dedupe_key="t:later",
            beneficiary_id=later.id,
            kind="vaccination",
            due_on=today + timedelta(days=60),
        )
    )
    db.commit()
    texts = {"texts": {"fr": FR}}

    # When the audience is "an upcoming vaccination", then within 30 days
    any_time = preflight(db, draft=body({"appointment_kind": "vaccination"}, **texts))
    within = preflight(
        db,
        draft=body({"appointment_kind": "vaccination", "appointment_within_days": 30}, **texts),
    )

    # Then only future, scheduled vaccinations count
    assert any_time.recipients == 2
    assert within.recipients == 1
    # And a window without a kind, or an unknown kind, is refused in French
    with pytest.raises(ValidationError, match="type de rendez-vous"):
        body({"appointment_within_days": 30}, **texts)
    with pytest.raises(ValidationError):
        body({"appointment_kind": "picnic"}, **texts)


def test_typing_reprices_the_text_without_counting_the_audience_again(
    db: Session, places, woman
) -> None:
    # Given three women, and a first preview for the whole audience
    for language in ("fr", "bm", "bm"):
        woman(places.village_a, language=language)
    db.commit()
    first = preflight(db, draft=body({}, texts={"fr": FR}))
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        # When staff go on typing and a fourth woman registers meanwhile
        woman(places.village_a, language="fr")
        db.commit()
        statements.clear()
        longer = preflight(db, draft=body({}, texts={"fr": FR + " " + FR}))
    finally:
        event.remove(engine, "before_cursor_execute", count)

    # Then the new text is priced on the breakdown already counted: no grouped count ran
    assert not [s for s in statements if "UNION ALL" in s]
    assert longer.recipients == first.recipients == 3
    assert longer.by_language["fr"].chars_left < first.by_language["fr"].chars_left

    # And another audience is counted afresh, seeing her
    fresh = preflight(db, draft=body({"languages": ["fr"]}, texts={"fr": FR}))
    assert fresh.recipients == 2
