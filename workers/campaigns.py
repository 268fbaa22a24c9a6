"""Campaign tasks: beat's tick starts due runs, the materialisation fills the outbox.

Both take IDs at most and read everything else from the database, so a lost or
repeated task changes nothing: the tick comes back every few seconds, and a run that
is already materialised returns at once.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from outreach.campaigns import materialise as materialisation
from outreach.campaigns import service
from outreach.db import unit_of_work
from workers.app import celery_app

DB_RETRY = {
    "autoretry_for": (OperationalError,),
    "max_retries": 3,
    "retry_backoff": 1,
    "retry_backoff_max": 5,
    "retry_jitter": True,
}


@celery_app.task(name=service.TICK_TASK, queue=service.QUEUE, **DB_RETRY)
def tick() -> dict[str, int]:
    """Start campaign runs whose time has come, retry stalled ones, close finished ones."""
    with unit_of_work() as session:
        result = service.tick(session)
    return {
        "started": len(result.started),
        "republished": len(result.republished),
        "finished": len(result.finished),
    }


@celery_app.task(name=service.MATERIALISE_TASK, queue=service.QUEUE, **DB_RETRY)
def materialise(campaign_id: int) -> dict[str, int | str | None]:
    """Insert the current run's recipients into the outbox, batch by batch; idempotent."""
    result = materialisation.run(campaign_id)
    return {
        "run": result.run,
        "batches": result.batches,
        "inserted": result.inserted,
        "skipped": result.skipped,
    }
