"""The Celery app. Redis is only the wake-up bell: every message lives in the database."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from celery.schedules import crontab

from outreach.config import get_settings
from outreach.logging import bind, configure_logging, unbind
from outreach.programmes.beat import fan_out_schedule


def create_celery() -> Celery:
    """Build the Celery app from the settings."""
    settings = get_settings()
    app = Celery("outreach", broker=settings.redis_url or "redis://127.0.0.1:6379/0")
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="outbox",
        task_queues=None,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        # A request that commits a row must not hang on a dead broker: the sweeper will
        # wake the row later, so give up publishing quickly.
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        broker_transport_options={"socket_timeout": 2, "socket_connect_timeout": 2},
        worker_hijack_root_logger=False,
        beat_schedule={
            "outbox-sweep": {
                "task": "outbox.sweep",
                "schedule": settings.sweep_interval_seconds,
                "options": {"queue": "maintenance", "expires": settings.sweep_interval_seconds},
            },
            # Rows inserted in bulk (the daily fan-out) or falling due later (retries,
            # quiet hours) get no wake-up of their own: this tick is theirs.
            "outbox-drain": {
                "task": "outbox.drain",
                "schedule": settings.drain_tick_seconds,
                "options": {"queue": "outbox", "expires": max(1.0, settings.drain_tick_seconds)},
            },
            "campaigns-tick": {
                "task": "campaigns.tick",
                "schedule": settings.campaign_tick_seconds,
                "options": {"queue": "maintenance", "expires": settings.campaign_tick_seconds},
            },
            **fan_out_schedule(settings),
            # Reminders due soon (and appointments for round days); each run is idempotent.
            "appointments-plan": {
                "task": "appointments.plan_reminders",
                "schedule": settings.appointment_plan_interval_seconds,
                "options": {
                    "queue": "maintenance",
                    "expires": settings.appointment_plan_interval_seconds,
                },
            },
            # Once a day, at a quiet hour in Bamako (UTC+0): each batch is a short transaction.
            "privacy-purge": {
                "task": "privacy.purge_expired_text",
                "schedule": crontab(hour=2, minute=40),
                "options": {"queue": "maintenance", "expires": 3600},
            },
        },
        timezone="UTC",
        imports=(
            "workers.outbox",
            "outreach.programmes.tasks",
            "workers.appointments",
            "workers.imports",
            "workers.campaigns",
            "workers.privacy",
        ),
    )
    return app


configure_logging()


@signals.setup_logging.connect
def _logging(**_kwargs: Any) -> None:
    # Connected, this keeps Celery's own setup away: worker and beat log through ours
    # (JSON in production, redacted), not Celery's plain handlers.
    configure_logging()


# Every line a task logs names the task and its id (tasks take ids, so nothing else).
_task_tokens: dict[str, Any] = {}


@signals.task_prerun.connect
def _task_context(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    _task_tokens[task_id] = bind(task=getattr(task, "name", None), task_id=task_id)


@signals.task_postrun.connect
def _task_context_end(task_id: str = "", **_kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        unbind(token)


# A drain is published every tick: one "received / succeeded / sending due task" line per
# second would drown the pipeline's own log lines. Failures are still logged as errors.
for _name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
    logging.getLogger(_name).setLevel(logging.WARNING)
celery_app = create_celery()
