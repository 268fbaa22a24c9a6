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
