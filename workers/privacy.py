"""Data-protection tasks: beat purges expired message text once a day."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from outreach.privacy import retention
from workers.app import celery_app


@celery_app.task(
    name=retention.PURGE_TASK,
    queue=retention.PURGE_QUEUE,
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
)
def purge_expired_text() -> dict[str, int]:
    """Blank bodies and free text past the retention period; a second run finds nothing."""
    counts = retention.run()
    return {"purged": counts.total}
