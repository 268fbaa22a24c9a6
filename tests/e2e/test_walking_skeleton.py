"""The whole path, across real processes: USSD registration → outbox → worker → SDK →
emulator → delivery report → `delivered`."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
from sqlmodel import select

from outreach.outbox.models import MessageAttempt, MessageStatus, OutboundMessage, addressed_to
from outreach.registry.models import Beneficiary

pytestmark = pytest.mark.e2e


def _hop(api_url: str, session_id: str, text: str) -> str:
    response = httpx.post(
        f"{api_url}/callbacks/at/ussd",
        data={
            "sessionId": session_id,
            "serviceCode": "*384*123#",
            "phoneNumber": "+22370000001",
            "networkCode": "99999",
            "text": text,
        },
        headers={"User-Agent": "at-ussd-api/1.0"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.text.startswith(("CON ", "END "))
    return response.text


def test_ussd_registration_ends_as_a_delivered_welcome_sms(stack, chw, db, wait_for) -> None:
    # Given the API, a Celery worker and the AT emulator running as separate processes
    session_id = f"ATUid_e2e_{uuid4().hex}"
    steps = ["1234", "1", "Mariam Keita", "1", "76123456", "2", "12", "1", "1", "2", "1"]
    answers = [""] + ["*".join(steps[: i + 1]) for i in range(len(steps))]
    # When a CHW registers Mariam Keita, 12 weeks pregnant, exactly as AT would post it
    for text in answers:
        _hop(stack.api_url, session_id, text)
    final = _hop(stack.api_url, session_id, answers[-1] + "*1")
    assert final.startswith("END Inscrite")

    # Then the worker sends the welcome SMS through the SDK and the report marks it delivered
    def delivered() -> OutboundMessage | None:
        db.expire_all()
        message = db.exec(select(OutboundMessage).where(addressed_to("+22376123456"))).first()
        return message if message and message.status == MessageStatus.DELIVERED else None

    message = wait_for(delivered, timeout=45, what=f"a delivered welcome SMS\n{stack.logs()}")
    woman = db.exec(select(Beneficiary)).one()
    assert message.beneficiary_id == woman.id
    assert message.to_number == "+22376123456"
    assert message.gateway_message_id and message.gateway_message_id.startswith("ATXid_")
    assert message.cost is not None and message.cost > 0
    attempts = db.exec(select(MessageAttempt).where(MessageAttempt.message_id == message.id)).all()
    assert [a.outcome for a in attempts] == ["accepted"]
    # And the emulator accepted it exactly once, with the beneficiary's name in it
    ledger = httpx.get(
        f"{stack.emulator_url}/emulator/messages", params={"to": "+22376123456"}, timeout=5
    ).json()["messages"]
    assert len(ledger) == 1
    assert ledger[0]["message_id"] == message.gateway_message_id
    assert "Mariam Keita" in ledger[0]["message"]
    assert ledger[0]["delivery_status"] == "Success"
    # And a worker proposed her antenatal contacts after the hop, none in the past
    from outreach.appointments.models import Appointment
    from outreach.timeutil import local_today

    def proposed() -> list[Appointment]:
        db.expire_all()
        return list(db.exec(select(Appointment).where(Appointment.beneficiary_id == woman.id)))

    visits = wait_for(proposed, timeout=30, what=f"proposed appointments\n{stack.logs()}")
    assert {v.kind for v in visits} == {"anc"}
    assert min(v.due_on for v in visits) >= local_today()


def test_a_lost_wake_up_is_recovered_by_the_sweeper(stack, db, wait_for, tmp_path) -> None:
    # Given a due welcome SMS whose Celery message never reached a worker (as after a
    # Redis restart that dropped its data): the row exists, the queue is empty
    import os
    import subprocess
    import sys

    from outreach.timeutil import utcnow

    message = OutboundMessage(
        dedupe_key="lost-wake-1",
        kind="reply",
        priority=0,
        to_number="+22366554433",
        body="Test de reprise",
        enqueued_at=utcnow(),
    )
    db.add(message)
    db.commit()
    # When Celery beat runs the periodic sweeper against the same database and broker
    env = {
        **os.environ,
        "OUTREACH_REDIS_URL": stack.redis_url,
        "OUTREACH_SWEEP_INTERVAL_SECONDS": "1",
        "OUTREACH_DRAIN_TICK_SECONDS": "1",
    }
    beat = subprocess.Popen(
        [sys.executable, "-m", "outreach", "beat"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Then the worker is woken again and the message ends delivered, sent once
        def delivered() -> bool:
            db.expire_all()
            row = db.get(OutboundMessage, message.id)
            return row is not None and row.status == MessageStatus.DELIVERED

        wait_for(delivered, timeout=45, what=f"the swept message delivered\n{stack.logs()}")
    finally:
        beat.terminate()
        beat.wait(timeout=10)
    ledger = httpx.get(
        f"{stack.emulator_url}/emulator/messages", params={"to": "+22366554433"}, timeout=5
    ).json()["messages"]
    assert len(ledger) == 1
