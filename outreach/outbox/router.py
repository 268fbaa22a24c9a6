"""Delivery reports from the gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from outreach.callbacks import CallbackKey
from outreach.db import SessionDep
from outreach.outbox import service
from outreach.outbox.schemas import DeliveryReportForm

router = APIRouter(dependencies=[CallbackKey], tags=["callbacks"])


@router.post("/callbacks/at/delivery", response_model=None)
def delivery_report(form: Annotated[DeliveryReportForm, Form()], db: SessionDep) -> dict[str, str]:
    """Apply a delivery report; duplicates and unknown statuses are stored and answered 200."""
    retry = form.retry_count
    service.apply_delivery_report(
        db,
        gateway_message_id=form.id,
        status=form.status,
        failure_reason=form.failure_reason or None,
        network_code=form.network_code,
        retry_count=int(retry) if retry and retry.isdigit() else None,
    )
    return {"status": "ok"}
