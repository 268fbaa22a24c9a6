"""Appointment tasks: beat plans reminders (and round days) every few minutes."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from outreach.appointments import planning
from outreach.appointments import service as appointments_service
from outreach.db import unit_of_work
from workers.app import celery_app

PLAN_TASK = "appointments.plan_reminders"
PLAN_QUEUE = "maintenance"


@celery_app.task(
    name=appointments_service.PROPOSE_TASK,
    queue=appointments_service.PROPOSE_QUEUE,
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
)
def propose(beneficiary_id: int) -> int:
    """Propose a newly registered woman's appointments; a re-delivery adds nothing."""
    with unit_of_work() as session:
        return len(
            appointments_service.propose_for_beneficiary(session, beneficiary_id=beneficiary_id)
        )


@celery_app.task(
    name=PLAN_TASK,
    queue=PLAN_QUEUE,
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
)
def plan_reminders() -> dict[str, int]:
    """Propose missing appointments, materialize round days, plan reminders; idempotent."""
    with unit_of_work() as session:
        proposed = appointments_service.propose_missing(session)
    with unit_of_work() as session:
        round_days = appointments_service.materialize_rounds(session)
    result = planning.run()
    return {"proposed": proposed, "round_appointments": round_days, "reminders": result.inserted}
