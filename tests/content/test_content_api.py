"""`/api/v1/content`: the library, read by all staff; approvals by managers, tied to the text."""

from __future__ import annotations

from sqlmodel import Session, col, select

from outreach.audit.models import AuditEntry
from outreach.content import service as content_service
from outreach.content.models import ContentApproval


def test_library_lists_texts_with_hashes_and_segments(client, staff) -> None:
    # when a viewer lists the hygiene topic set
    page = client.get(
        "/api/v1/content", params={"programme": "hygiene", "limit": 2}, headers=staff["viewer"]
    ).json()
    # then each message has its French and Bambara texts as sent, with hash and segments
    assert len(page["items"]) == 2 and page["total"] > 2
    first = page["items"][0]
    assert [t["language"] for t in first["texts"]] == ["fr", "bm"]
    assert all(len(t["sha256"]) == 64 and t["segments"] >= 1 for t in first["texts"])
    assert first["review_status"] == "draft" and first["approved"] is False
    # and an unknown key is a French 404
    missing = client.get("/api/v1/content/nope", headers=staff["viewer"])
    assert missing.status_code == 404 and missing.json() == {"detail": "contenu introuvable"}


def test_manager_approves_each_language_as_read(client, staff, db: Session) -> None:
    # given a draft message as a manager reads it
    message = client.get("/api/v1/content/hyg_water", headers=staff["manager"]).json()
    fr, bm = message["texts"]
    # when the French text is approved
    after_fr = client.post(
        "/api/v1/content/hyg_water/approve",
        json={"language": "fr", "text_sha256": fr["sha256"]},
        headers=staff["manager"],
    ).json()
    # then French is approved but the message is not yet (Bambara is still a draft)
    assert [t["approved"] for t in after_fr["texts"]] == [True, False]
    assert after_fr["approved"] is False
    # when Bambara is approved too, then the message counts as approved
    both = client.post(
        "/api/v1/content/hyg_water/approve",
        json={"language": "bm", "text_sha256": bm["sha256"]},
        headers=staff["manager"],
    ).json()
    assert both["approved"] is True
    listed = client.get(
        "/api/v1/content", params={"approved": "true"}, headers=staff["viewer"]
    ).json()
    assert [m["key"] for m in listed["items"]] == ["hyg_water"]
    # and each approval is audited with the hash, never the text
    entries = list(
        db.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "content.approve")
            .order_by(col(AuditEntry.id))
        )
    )
    assert [e.detail["language"] for e in entries] == ["fr", "bm"]
    assert fr["text"] not in str([e.detail for e in entries])


def test_an_approval_of_a_changed_text_is_refused(client, staff, db: Session) -> None:
    # when the hash sent is not the current text's
    response = client.post(
        "/api/v1/content/hyg_water/approve",
        json={"language": "fr", "text_sha256": "a" * 64},
        headers=staff["manager"],
    )
    # then the approval is refused in French and nothing is recorded
    assert response.status_code == 422 and "le texte a changé" in response.json()["detail"]
    assert db.exec(select(ContentApproval)).first() is None
    malformed = client.post(
        "/api/v1/content/hyg_water/approve",
        json={"language": "fr", "text_sha256": "xyz"},
        headers=staff["manager"],
    )
    assert malformed.status_code == 422


def test_a_stored_approval_no_longer_applies_once_the_text_changes(db: Session, staff) -> None:
    # given an approval recorded for an older wording of hyg_water in both languages
    from messages import texts

    library = texts.load()
    for language in ("fr", "bm"):
        db.add(
            ContentApproval(
                key="hyg_water",
                language=language,
                text_sha256=content_service.text_hash("ancienne version"),
                version=1,
                approved_by_user_id=1,
            )
        )
    db.commit()
    # then the current text is still a draft
    assert not content_service.with_approvals(db, library)["hyg_water"].approved
