"""CSV import task: registers the checked lines of one import, a batch per transaction."""

from __future__ import annotations

from outreach.db import unit_of_work
from outreach.imports import service
from workers.app import celery_app
from workers.outbox import DB_RETRY

# Lines per transaction: short enough that USSD registrations never wait long for locks.
BATCH = 200


@celery_app.task(name="imports.run", queue="maintenance", **DB_RETRY)
def run_import(import_id: int) -> int:
    """Import every remaining line of `import_id`; a re-run continues where it stopped."""
    batches = 0
    more = True
    while more:
        with unit_of_work() as session:
            more = service.run_batch(session, import_id=import_id, size=BATCH)
        batches += 1
    return batches
