"""A campaign across real processes: API → approval → worker materialises → SDK → emulator →
delivery reports → 100% delivered → done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from outreach.accounts import service as accounts
from outreach.campaigns import service
from outreach.campaigns.models import CampaignStatus
from outreach.db import unit_of_work
from outreach.outbox import service as outbox
from outreach.redis import get_redis
from outreach.registry.models import Phone, PhoneKind

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_a_campaign_reaches_100_percent_delivered(
    stack, db: Session, staff, places, woman, wait_for, tmp_path
) -> None:
    # Given three displaced women of two villages (one in Bambara, one on a shared phone),
    # one settled woman, and one displaced woman elsewhere
    reached = [
        woman(places.village_a, name="Awa Traoré", displaced=True),
        woman(places.village_a, name="Mariam Coulibaly", displaced=True, language="bm"),
        woman(places.village_b, name="Fanta Diarra", displaced=True, phone_kind=PhoneKind.SHARED),
    ]
    woman(places.village_b, name="Oumou Keita", displaced=False)
    woman(places.village_far, name="Sali Dembélé", displaced=True)
    tokens = {
        role: accounts.issue_token(db, user=getattr(staff, role), name="e2e")
        for role in ("officer", "manager")
    }
    db.commit()

    def call(method: str, path: str, role: str, body: dict | None = None) -> dict:
        response = httpx.request(
            method,
            f"{stack.api_url}/api/v1/campaigns{path}",
            json=body,
            headers={"Authorization": f"Bearer {tokens[role]}"},
            timeout=10,
        )
        assert response.status_code < 300, response.text
        return response.json()

    # When an officer drafts it for the two villages in French and Bambara, checks the
    # preflight, and submits it, and a manager approves it (all through the API process)
    body = {
        "name": "Hygiène jeudi",
        "texts": {
            "fr": "{prenom}, séance de sensibilisation hygiène jeudi au CSCom.",
            "bm": "{prenom}, saniya kalan bè kè CSCom la jumadon.",
        },
        "audience": {"site_ids": [places.village_a.id, places.village_b.id], "displaced": True},
    }
    check = call("POST", "/preflight", "officer", body)
    assert check["recipients"] == 3 and check["cost_xof"] == 75.0
    cid = call("POST", "", "officer", body)["id"]
    call("POST", f"/{cid}/submit", "officer")
    assert call("POST", f"/{cid}/approve", "manager")["status"] == "scheduled"

    # And a manager starts it, served by a worker of its own whose send window is always
    # open for campaigns, so the test passes at any hour (the stack's worker keeps the
    # default window; this worker listens on the suite's own Redis database)
    env = {
        **os.environ,
        "OUTREACH_EMULATOR_PORT": stack.emulator_url.rsplit(":", 1)[1],
        "OUTREACH_SEND_WINDOW_BY_KIND": json.dumps(
            {"reply": "00:00-24:00", "campaign": "00:00-24:00"}
        ),
        "PYTHONUNBUFFERED": "1",
    }
    get_redis().delete(outbox.WAKE_KEY)
    log_path = tmp_path / "campaign-worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "outreach", "worker", "--concurrency", "1"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        service.start(db, user=staff.manager, campaign_id=cid)
        db.commit()
        service.publish_materialise(cid)

        # Then the progress bar, as the API serves it, reaches 100% delivered
        def complete() -> dict | None:
            progress = call("GET", f"/{cid}/progress", "officer")
            return progress if progress["percent_delivered"] == 100.0 else None

        progress = wait_for(
            complete,
            timeout=60,
            what=f"100% delivered\n{log_path.read_text(errors='replace')[-3000:]}\n{stack.logs()}",
        )
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert progress["total"] == 3 and progress["delivered"] == 3 and progress["failed"] == 0

    # And each woman got her text, in her language, by her first name, once
    texts = []
    for person in reached:
        phone = db.get(Phone, person.phone_id)
        assert phone is not None
        ledger = httpx.get(
            f"{stack.emulator_url}/emulator/messages", params={"to": phone.e164}, timeout=5
        ).json()["messages"]
        texts += [m["message"] for m in ledger]
    texts.sort()
    assert texts == [
        "Awa, séance de sensibilisation hygiène jeudi au CSCom.",
        "Mariam, saniya kalan bè kè CSCom la jumadon.",
        "Pour Fanta Diarra: Fanta, séance de sensibilisation hygiène jeudi au CSCom.",
    ]
    # And the next tick closes the campaign (the worker may have run one already: tasks
    # published by earlier tests on this Redis database)
    with unit_of_work() as session:
        service.tick(session)
    assert call("GET", f"/{cid}", "officer")["status"] == CampaignStatus.DONE
