"""`/api/v1/campaigns`: each role against each write, errors, lists, preflight, progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from campaign_helpers import draft
from sqlmodel import Session

from outreach.accounts import service as accounts
from outreach.campaigns import service
from outreach.campaigns.models import CampaignStatus
from outreach.timeutil import utcnow

BODY: dict[str, Any] = {
    "name": "Hygiène jeudi",
    "texts": {"fr": "Séance de sensibilisation hygiène jeudi au CSCom.", "bm": "Saniya kalan."},
    "audience": {"displaced": True},
}


@pytest.fixture
def auth(db: Session, staff) -> Callable[[str], dict[str, str]]:
    """`auth("officer")`: the Authorization header of that staff member."""
    tokens = {
        role: accounts.issue_token(db, user=getattr(staff, role), name="tests")
        for role in ("viewer", "officer", "officer2", "manager", "manager2", "admin")
    }
    db.commit()
    return lambda role: {"Authorization": f"Bearer {tokens[role]}"}


def in_state(db: Session, staff, state: str) -> int:
    """A campaign drafted by the second officer, taken to `state` by the second manager."""
    campaign = service.create(db, user=staff.officer2, draft=draft())
    assert campaign.id is not None
    if state in ("pending", "scheduled"):
        service.submit(db, user=staff.officer2, campaign_id=campaign.id)
    if state == "scheduled":
        service.approve(db, user=staff.manager2, campaign_id=campaign.id)
    db.commit()
    return campaign.id


# (write, state the campaign must be in, how to call it)
WRITES: dict[str, tuple[str | None, str, str, dict[str, Any] | None]] = {
    "create": (None, "post", "", BODY),
    "update": ("draft", "put", "", BODY),
    "submit": ("draft", "post", "/submit", None),
    "approve": ("pending", "post", "/approve", None),
    "reject": ("pending", "post", "/reject", {"reason": "Date à revoir"}),
    "start": ("scheduled", "post", "/start", None),
    "schedule": ("scheduled", "post", "/schedule", {"send_at": "2031-01-09T09:00:00"}),
    "cancel": ("scheduled", "post", "/cancel", None),
}
OFFICER_MAY = {"create", "update", "submit"}
EXPECTED = (
    {("viewer", write): 403 for write in WRITES}
    | {
        ("officer", write): (201 if write == "create" else 200) if write in OFFICER_MAY else 403
        for write in WRITES
    }
    | {
        (role, write): 201 if write == "create" else 200
        for role in ("manager", "admin")
        for write in WRITES
    }
)


@pytest.mark.parametrize(("role", "write"), sorted(EXPECTED))
def test_each_role_against_each_write(client, db: Session, staff, auth, role, write) -> None:
    # Given a campaign in the state the write expects
    state, method, suffix, body = WRITES[write]
    url = "/api/v1/campaigns"
    if state is not None:
        url += f"/{in_state(db, staff, state)}{suffix}"
    # When this role attempts it
    response = getattr(client, method)(url, json=body, headers=auth(role))
    # Then it is allowed exactly for the roles that may, with a French refusal otherwise
    assert response.status_code == EXPECTED[(role, write)], response.text
    if response.status_code == 403:
        assert "réservée au rôle" in response.json()["detail"]


def test_no_access_without_a_valid_token(client, db: Session, staff) -> None:
    # Given no token, or a wrong one
    # When the campaigns are read or written / Then 401
    assert client.get("/api/v1/campaigns").status_code == 401
    assert client.post("/api/v1/campaigns", json=BODY).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/api/v1/campaigns/preflight", json={}, headers=bad).status_code == 401


def test_officer_drafts_manager_approves_and_starts_over_http(
    client, db: Session, staff, auth, places, woman
) -> None:
    # Given a displaced woman and an officer's draft
    woman(places.village_a, displaced=True)
    db.commit()
    created = client.post("/api/v1/campaigns", json=BODY, headers=auth("officer"))
    assert created.status_code == 201
    cid = created.json()["id"]
    assert created.json()["status"] == "draft"
    # When she submits it and approves it herself, she is refused; so is the same manager
    assert (
        client.post(f"/api/v1/campaigns/{cid}/submit", headers=auth("officer")).status_code == 200
    )
    own = client.post(f"/api/v1/campaigns/{cid}/approve", headers=auth("officer"))
    assert own.status_code == 403
    # And a manager approves and starts it
    approved = client.post(f"/api/v1/campaigns/{cid}/approve", headers=auth("manager"))
    assert approved.status_code == 200 and approved.json()["status"] == "scheduled"
    started = client.post(f"/api/v1/campaigns/{cid}/start", headers=auth("manager"))
    assert started.status_code == 200 and started.json()["status"] == "sending"
    # Then its progress is readable by a viewer
    progress = client.get(f"/api/v1/campaigns/{cid}/progress", headers=auth("viewer"))
    assert progress.status_code == 200
    assert progress.json()["status"] == "sending" and progress.json()["runs"] == 1


def test_self_approval_by_a_manager_is_refused_in_french(client, db: Session, staff, auth) -> None:
    # Given a manager's own submitted campaign
    created = client.post("/api/v1/campaigns", json=BODY, headers=auth("manager")).json()
    client.post(f"/api/v1/campaigns/{created['id']}/submit", headers=auth("manager"))
    # When she approves it / Then 403 with the reason
    response = client.post(f"/api/v1/campaigns/{created['id']}/approve", headers=auth("manager"))
    assert response.status_code == 403
    assert "un autre responsable" in response.json()["detail"]


def test_invalid_transitions_are_409_and_bad_bodies_422(client, db: Session, staff, auth) -> None:
    # Given a draft
    cid = in_state(db, staff, "draft")
    # When a manager approves a draft / Then 409 with a French message
    response = client.post(f"/api/v1/campaigns/{cid}/approve", headers=auth("manager"))
    assert response.status_code == 409
    assert "brouillon" in response.json()["detail"]
    # And malformed bodies are 422 with a readable message, never 500
    for body in (
        {**BODY, "texts": {"fr": "Bonjour {nom}"}},
        {**BODY, "name": ""},
        {**BODY, "audience": {"stage_from": 20}},
        {**BODY, "audience": {"site_ids": ["x"]}},
        {"texts": {"fr": "x"}},
    ):
        response = client.post("/api/v1/campaigns", json=body, headers=auth("officer"))
        assert response.status_code == 422, body
        assert response.json()["detail"].startswith("requête invalide")
    assert (
        "variable inconnue"
        in client.post(
            "/api/v1/campaigns", json={**BODY, "texts": {"fr": "{nom}"}}, headers=auth("officer")
        ).json()["detail"]
    )
    # And a missing campaign is 404; a past schedule is 422
    assert client.get("/api/v1/campaigns/999", headers=auth("viewer")).status_code == 404
    scheduled = in_state(db, staff, "scheduled")
    past = (utcnow() - timedelta(days=1)).isoformat()
    response = client.post(
        f"/api/v1/campaigns/{scheduled}/schedule", json={"send_at": past}, headers=auth("manager")
    )
    assert response.status_code == 422 and "passée" in response.json()["detail"]


def test_an_officer_cancels_a_draft(client, db: Session, staff, auth) -> None:
    # Given a draft / When an officer cancels it / Then it is cancelled
    cid = in_state(db, staff, "draft")
    response = client.post(f"/api/v1/campaigns/{cid}/cancel", headers=auth("officer"))
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["messages_cancelled"] == 0


def test_list_is_paginated_and_filtered_by_status(client, db: Session, staff, auth) -> None:
    # Given three drafts and two submitted campaigns
    for _ in range(3):
        in_state(db, staff, "draft")
    for _ in range(2):
        in_state(db, staff, "pending")
    # When a viewer lists them, two a page, and by status
    first = client.get("/api/v1/campaigns?per_page=2", headers=auth("viewer")).json()
    third = client.get("/api/v1/campaigns?per_page=2&page=3", headers=auth("viewer")).json()
    pending = client.get("/api/v1/campaigns?status=pending_approval", headers=auth("viewer")).json()
    # Then pages and filter hold
    assert first["total"] == 5 and len(first["items"]) == 2
    assert len(third["items"]) == 1
    assert pending["total"] == 2
    assert {c["status"] for c in pending["items"]} == {CampaignStatus.PENDING_APPROVAL}
    bad = client.get("/api/v1/campaigns?status=nope", headers=auth("viewer"))
    assert bad.status_code == 422


def test_preflight_and_rewrite_for_a_viewer(
    client, db: Session, staff, auth, places, woman
) -> None:
    # Given two displaced women in a village, one speaking Bambara
    woman(places.village_a, displaced=True, language="fr")
    woman(places.village_a, displaced=True, language="bm")
    db.commit()
    # When a viewer previews a draft for that village
    response = client.post(
        "/api/v1/campaigns/preflight",
        json={
            "texts": {"fr": "Séance jeudi à {site}.", "bm": "Kalan bɛ kɛ jumadon."},
            "audience": {"site_ids": [places.village_a.id], "displaced": True},
        },
        headers=auth("viewer"),
    )
    # Then counts, encodings, cost and samples come back
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["recipients"] == 2 and data["cost_xof"] == 50.0
    assert data["by_language"]["bm"]["encoding"] == "UCS-2"
    assert data["by_language"]["bm"]["gsm_safe_text"] == "Kalan bè kè jumadon."
    assert "Séance jeudi à Sébougou." in [s["text"] for s in data["samples"]]
    # And the rewrite is one call
    rewritten = client.post(
        "/api/v1/campaigns/rewrite-gsm",
        json={"text": "Kalan bɛ kɛ « jumadon »", "language": "bm"},
        headers=auth("viewer"),
    )
    assert rewritten.json() == {"text": 'Kalan bè kè " jumadon "'}
    # And an unknown placeholder is a 422 while composing
    bad = client.post(
        "/api/v1/campaigns/preflight", json={"texts": {"fr": "{age}"}}, headers=auth("viewer")
    )
    assert bad.status_code == 422
