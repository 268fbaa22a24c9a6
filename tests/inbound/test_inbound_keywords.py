"""Keywords by SMS: STOP everywhere at once, STOP <code>, START, AIDE, LANGUE, the inbox."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from messages import texts
from messages.encoding import segment_info
from outreach.inbound import service as inbound_service
from outreach.inbound.matcher import Intent, match
from outreach.inbound.models import InboundMessage
from outreach.outbox import service as outbox_service
from outreach.outbox.models import MessageKind, MessageStatus, OutboundMessage, addressed_to
from outreach.redis import get_redis
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, BeneficiaryStatus, PhoneKind
from outreach.timeutil import local_today, utcnow

AWA = "+22370123456"
SHARED = "+22376543210"


def _post(client, text: str, gateway_id: str, sender: str = AWA):
    return client.post(
        "/callbacks/at/sms",
        data={"id": gateway_id, "from": sender, "to": "36123", "text": text, "date": "x"},
    )


def _replies(db: Session, to: str) -> list[OutboundMessage]:
    db.expire_all()
    return list(
        db.exec(
            select(OutboundMessage)
            .where(
                addressed_to(to),
                col(OutboundMessage.dedupe_key).startswith(outbox_service.ANSWER_PREFIX),
            )
            .order_by(col(OutboundMessage.id))
        )
    )


def _register(db: Session, name: str, phone: str, kind: PhoneKind = PhoneKind.OWN) -> int:
    reg = registry_service.register_pregnancy(
        db, name=name, phone=phone, weeks=20, chw_id=None, phone_kind=kind
    )
    db.commit()
    assert reg.beneficiary.id is not None
    return reg.beneficiary.id


def _clear_budget() -> None:
    keys = list(get_redis().scan_iter("outreach:inbound:*"))
    if keys:
        get_redis().delete(*keys)


def test_keywords_in_french_and_bambara_and_synonyms() -> None:
    # Given the shipped catalog
    # When texts in both languages, with accents, typos and punctuation are matched
    cases = {
        "STOP": Intent.STOP,
        "arrêt": Intent.STOP,
        "arét": Intent.STOP,
        "stop.": Intent.STOP,
        "Stop!": Intent.STOP,
        "STOPP": Intent.STOP,
        "dabila": Intent.STOP,
        "Jɔ": Intent.STOP,
        "START": Intent.START,
        "reprendre": Intent.START,
        "segin": Intent.START,
        "oui": Intent.YES,
        "ɔwɔ": Intent.YES,
        "OK": Intent.CONFIRM,
        "confirmé": Intent.CONFIRM,
        "AIDE": Intent.HELP,
        "help": Intent.HELP,
        "?": Intent.HELP,
        "dɛmɛ": Intent.HELP,
        "BM": Intent.BM,
        "fr": Intent.FR,
        "bonjour": Intent.OTHER,
        "": Intent.OTHER,
    }
    # Then each is understood as its intent
    assert {t: match(t).intent for t in cases} == cases
    assert match("STOP 123456").code == "123456"
    assert match("LANGUE BM").language == "bm" and match("kan faransikan").language == "fr"


def test_reply_texts_fit_one_segment_in_both_languages() -> None:
    # Given the longest names and numbers a reply can carry
    values = {"name": "W" * 20, "code": "999999", "chw_name": "W" * 20, "chw_phone": "70 00 00 01"}
    for key in [k for k in texts.load() if k.startswith("sms_")]:
        for language in ("fr", "bm"):
            # When the reply is rendered as sent / Then it is one GSM-7 segment
            info = segment_info(texts.render(key, language, **values))
            assert (info.encoding, info.segments) == ("GSM-7", 1), (key, language)


def test_stop_on_a_shared_phone_stops_all_three_and_logs_consent(client, db) -> None:
    # Given three women on one phone
    _clear_budget()
    ids = [_register(db, n, SHARED, PhoneKind.SHARED) for n in ("Awa", "Fanta", "Kadi")]
    # When the phone texts "Arrêt!"
    assert _post(client, "Arrêt!", "in-1", SHARED).status_code == 200
    # Then all three are stopped, each withdrawal logged, one confirmation queued
    db.expire_all()
    for b_id in ids:
        [withdrawn] = registry_service.consent_history(db, beneficiary_id=b_id)
        assert withdrawn.granted is False
        assert withdrawn.channel == "sms" and withdrawn.text_key == "sms_stop_confirmed"
    [reply] = _replies(db, SHARED)
    assert "START" in reply.body and reply.status == MessageStatus.QUEUED


def test_stop_code_mutes_only_that_woman(client, db) -> None:
    # Given three women on one phone
    _clear_budget()
    ids = [_register(db, n, SHARED, PhoneKind.SHARED) for n in ("Awa", "Fanta", "Kadi")]
    fanta = db.get(Beneficiary, ids[1])
    assert fanta is not None
    # When the phone texts STOP with Fanta's code
    assert _post(client, f"stop {fanta.code}", "in-2", SHARED).status_code == 200
    # Then only Fanta is opted out, and the reply names her
    db.expire_all()
    statuses = [db.get(Beneficiary, i).status for i in ids]  # type: ignore[union-attr]
    assert statuses == ["active", "opted_out", "active"]
    [reply] = _replies(db, SHARED)
    assert "Fanta" in reply.rendered and "Fanta" not in reply.body and fanta.code in reply.body
    # And START with her code brings her back, logged as a consent by SMS
    assert _post(client, f"START {fanta.code}", "in-3", SHARED).status_code == 200
    db.expire_all()
    assert db.get(Beneficiary, ids[1]).status == BeneficiaryStatus.ACTIVE  # type: ignore[union-attr]
    history = registry_service.consent_history(db, beneficiary_id=ids[1])
    assert [(c.channel, c.granted) for c in history] == [("sms", False), ("sms", True)]


def test_the_same_id_three_times_is_one_reply(client, db) -> None:
    # Given Awa registered
    _clear_budget()
    _register(db, "Awa", AWA)
    # When AT posts the same STOP three times
    codes = [_post(client, "STOP", "in-same").status_code for _ in range(3)]
    # Then one message stored, one reply
    assert codes == [200, 200, 200]
    assert len(db.exec(select(InboundMessage)).all()) == 1
    assert len(_replies(db, AWA)) == 1


def test_stop_while_a_thousand_messages_are_queued_sends_none(client, db) -> None:
    # Given Awa with 1,000 messages queued for her
    _clear_budget()
    awa_id = _register(db, "Awa", AWA)
    now = utcnow()
    db.add_all(
        OutboundMessage(
            dedupe_key=f"bulk:{i}",
            kind=MessageKind.PROGRAMME,
            to_number=AWA,
            body="x",
            beneficiary_id=awa_id,
            due_at=now,
            enqueued_at=now,
        )
        for i in range(1000)
    )
    db.commit()
    # When she texts STOP
    assert _post(client, "STOP", "in-4").status_code == 200
    # Then every queued one is cancelled, and a claim hands out only the confirmation
    claims = outbox_service.claim_due(db, owner="t", limit=2000)
    db.commit()
    assert [c.to_number for c in claims] == [AWA]
    assert claims[0].body == _replies(db, AWA)[0].rendered
    db.expire_all()
    bulk = db.exec(
        select(OutboundMessage).where(col(OutboundMessage.dedupe_key).startswith("bulk:"))
    ).all()
    assert len(bulk) == 1000 and {m.status for m in bulk} == {MessageStatus.CANCELLED}


def test_send_time_check_stops_rows_queued_after_a_per_woman_stop(db) -> None:
    # Given Fanta stopped on a shared phone, then 1,000 rows queued for her anyway
    ids = [_register(db, n, SHARED, PhoneKind.SHARED) for n in ("Awa", "Fanta")]
    registry_service.opt_out_beneficiary(db, beneficiary_id=ids[1])
    # At noon in Bamako, whatever the hour the suite runs: a programme message claimed
    # during quiet hours waits for morning instead of being looked at.
    noon = datetime.combine(local_today(), time(12), ZoneInfo("Africa/Bamako")).astimezone(UTC)
    now = noon - timedelta(minutes=1)
    db.add_all(
        OutboundMessage(
            dedupe_key=f"late:{i}",
            kind=MessageKind.PROGRAMME,
            to_number=SHARED,
            body="x",
            beneficiary_id=ids[1],
            due_at=now,
            enqueued_at=now,
        )
        for i in range(1000)
    )
    db.commit()
    # When workers claim them
    claims = outbox_service.claim_due(db, owner="t", limit=2000, now=noon)
    db.commit()
    # Then none of hers is handed out: each is cancelled at send time
    assert all(c.body != "x" for c in claims)
    db.expire_all()
    late = db.exec(
        select(OutboundMessage).where(col(OutboundMessage.dedupe_key).startswith("late:"))
    ).all()
    assert {m.failure_reason for m in late} == {"beneficiary_opted_out"}


def test_anything_else_goes_to_the_inbox_with_one_auto_reply_a_day(client, db) -> None:
    # Given Awa registered
    _clear_budget()
    awa_id = _register(db, "Awa", AWA)
    # When she writes three free texts
    for i, text in enumerate(["Bonjour", "Mon bébé a de la fièvre", "😀 ߒ߬ Ж"]):
        assert _post(client, text, f"in-free-{i}").status_code == 200
    # Then all three are in the inbox, linked to her, and she got one auto-reply
    inbox = inbound_service.inbox(db)
    assert len(inbox) == 3 and {m.beneficiary_id for m in inbox} == {awa_id}
    assert len(_replies(db, AWA)) == 1


def test_help_language_and_confirm(client, db) -> None:
    # Given Awa registered in French
    _clear_budget()
    awa_id = _register(db, "Awa", AWA)
    # When she asks for help, then switches to Bambara, then answers OK
    for i, text in enumerate(["aide", "LANGUE BM", "OK"]):
        assert _post(client, text, f"in-k-{i}").status_code == 200
    # Then help and a Bambara confirmation are queued, OK is recorded as a confirmation
    db.expire_all()
    assert db.get(Beneficiary, awa_id).language == "bm"  # type: ignore[union-attr]
    bodies = [m.body for m in _replies(db, AWA)]
    assert len(bodies) == 2 and "STOP" in bodies[0] and "bamanankan" in bodies[1]
    intents = [m.intent for m in db.exec(select(InboundMessage).order_by(col(InboundMessage.id)))]
    assert intents == ["help", "language", "confirm"]


def test_auto_replies_are_rate_limited_per_phone(client, db) -> None:
    # Given a robot that answers every message with AIDE
    _clear_budget()
    # When it sends 20 of them in an hour
    for i in range(20):
        assert _post(client, "AIDE", f"in-loop-{i}").status_code == 200
    # Then only the hourly budget is answered, and all 20 are stored
    assert len(_replies(db, AWA)) == 5
    assert len(db.exec(select(InboundMessage)).all()) == 20
    # And the budget is counted in Redis under a keyed hash, never under her number
    budget = list(get_redis().scan_iter("outreach:inbound:replies:*"))
    assert len(budget) == 1 and AWA[1:].encode() not in budget[0]
    assert AWA[4:].encode() not in budget[0]


def test_non_phone_senders_are_stored_never_answered(client, db) -> None:
    # Given a short code and an alphanumeric sender
    for i, sender in enumerate(["36123", "Orange"]):
        # When they text STOP
        assert _post(client, "STOP", f"in-np-{i}", sender).status_code == 200
    # Then both are stored and nothing is queued
    assert [m.intent for m in db.exec(select(InboundMessage))] == ["not_a_phone"] * 2
    assert db.exec(select(OutboundMessage)).all() == []


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=1000))
def test_any_text_is_answered_at_most_once_never_5xx(client, db, text) -> None:
    # Given any text at all
    _clear_budget()
    gateway_id = f"prop-{abs(hash(text))}"
    # When it is posted twice under one id
    codes = {_post(client, text, gateway_id).status_code for _ in range(2)}
    # Then never a 5xx, and at most one reply for it
    assert codes == {200}
    replies = db.exec(
        select(OutboundMessage).where(
            OutboundMessage.dedupe_key == f"{outbox_service.ANSWER_PREFIX}{gateway_id}"
        )
    ).all()
    assert len(replies) <= 1


def test_staff_synonyms_from_their_own_folder_are_matched(tmp_path, monkeypatch) -> None:
    # Given a staff folder adding "fini" as a way to say STOP
    from outreach.config import get_settings
    from outreach.inbound import matcher

    (tmp_path / "staff.yaml").write_text("keywords:\n  stop: [fini]\n", encoding="utf-8")
    monkeypatch.setenv("OUTREACH_INBOUND_KEYWORDS_DIR", str(tmp_path))
    get_settings.cache_clear()
    matcher.catalog.cache_clear()
    try:
        # When a woman writes "Fini !"
        found = matcher.match("Fini !")
        # Then it is a STOP, and the shipped keywords still work
        assert found.intent == matcher.Intent.STOP
        assert matcher.match("arrêt").intent == matcher.Intent.STOP
    finally:
        monkeypatch.delenv("OUTREACH_INBOUND_KEYWORDS_DIR")
        get_settings.cache_clear()
        matcher.catalog.cache_clear()


def test_start_after_stop_keeps_a_self_registration_pending(client, db) -> None:
    # Given a woman who registered herself and is waiting for a CHW to confirm her
    _clear_budget()
    woman = registry_service.self_register(db, phone=AWA, name="Awa", language="fr", weeks=20)
    db.commit()
    # When she texts STOP, then START
    assert _post(client, "STOP", "in-p1").status_code == 200
    assert _post(client, "START", "in-p2").status_code == 200
    # Then she is back to waiting for confirmation, not active unconfirmed
    db.expire_all()
    assert db.get(Beneficiary, woman.id).status == BeneficiaryStatus.PENDING  # type: ignore[union-attr]
