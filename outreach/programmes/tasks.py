"""Programme tasks: the daily fan-out, started by beat at each configured time."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from outreach.programmes import fanout
from outreach.programmes.beat import FAN_OUT_QUEUE, FAN_OUT_TASK
from workers.app import celery_app


@celery_app.task(
    name=FAN_OUT_TASK,
    queue=FAN_OUT_QUEUE,
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
)
def fan_out() -> dict[str, int]:
    """Queue every programme message due today (and on the catch-up days); idempotent."""
    results = fanout.run_window()
    return {
        "days": len(results),
        "inserted": sum(r.inserted for r in results),
        "completed": sum(r.completed for r in results),
    }
