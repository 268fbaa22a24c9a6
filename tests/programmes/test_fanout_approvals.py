"""A draft approved by a manager in the console or the API is sent, like a YAML approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlmodel import Session, select

from messages import texts
from outreach.content import service as content_service
from outreach.outbox.models import OutboundMessage
from outreach.programmes import fanout, service
from outreach.registry.models import Beneficiary

DAY = date(2026, 12, 7)
EDD_AT_WEEK_20 = DAY + timedelta(weeks=20)


def _approve(client, staff, key: str, languages: tuple[str, ...]) -> None:
    message = client.get(f"/api/v1/content/{key}", headers=staff["manager"]).json()
    for text in message["texts"]:
        if text["language"] in languages:
            response = client.post(
                f"/api/v1/content/{key}/approve",
                json={"language": text["language"], "text_sha256": text["sha256"]},
                headers=staff["manager"],
            )
            assert response.status_code == 200, response.text


def test_fan_out_sends_a_draft_once_every_language_is_approved(
    db: Session, client, staff, enroll, make_beneficiary: Callable[..., Beneficiary]
) -> None:
    # given a woman at week 20, the shipped library all drafts, and drafts refused
    enroll(make_beneficiary(), "pregnancy", EDD_AT_WEEK_20, start=DAY - timedelta(days=30))
    db.commit()
    # when a manager approves week 20 in French only
    _approve(client, staff, "preg_w20", ("fr",))
    # then nothing is sent yet: her Bambara text is unreviewed
    assert fanout.run(day=DAY, include_drafts=False).inserted == 0
    # when the Bambara text is approved too
    _approve(client, staff, "preg_w20", ("bm",))
    # then the fan-out sends exactly that message
    assert fanout.run(day=DAY, include_drafts=False).inserted == 1
    keys = [m.dedupe_key.rsplit(":", 1)[1] for m in db.exec(select(OutboundMessage))]
    assert keys == ["preg_w20"]


def test_advice_on_demand_counts_db_approvals(
    db: Session, client, staff, enroll, make_beneficiary: Callable[..., Beneficiary], monkeypatch
) -> None:
    from outreach.config import get_settings

    # given drafts not allowed and a woman at week 20 today
    monkeypatch.setattr(get_settings(), "content_send_drafts", False)
    from outreach.timeutil import local_today

    enrollment = enroll(
        make_beneficiary(), "pregnancy", local_today() + timedelta(weeks=20), start=local_today()
    )
    db.commit()
    assert service.current_text(db, enrollment=enrollment, language="fr") is None
    # when every pregnancy message up to this week is approved in both languages
    library = texts.load()
    for key, message in library.items():
        if message.programme == "pregnancy":
            _approve(client, staff, key, ("fr", "bm"))
    # then her current stage's text is available
    assert content_service.with_approvals(db, library)["preg_w20"].approved
    assert service.current_text(db, enrollment=enrollment, language="fr")
