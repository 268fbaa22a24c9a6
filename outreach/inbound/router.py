"""Incoming SMS and bulk opt-out callbacks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from outreach.callbacks import CallbackKey
from outreach.db import SessionDep
from outreach.inbound import service
from outreach.inbound.schemas import IncomingSms, OptOut

router = APIRouter(dependencies=[CallbackKey], tags=["callbacks"])


@router.post("/callbacks/at/sms", response_model=None)
def incoming_sms(sms: Annotated[IncomingSms, Form()], db: SessionDep) -> dict[str, str]:
    """Store an incoming SMS; replays of the same id are acknowledged and ignored."""
    service.receive(db, sms=sms)
    return {"status": "ok"}


@router.post("/callbacks/at/optout", response_model=None)
def optout(notice: Annotated[OptOut, Form()], db: SessionDep) -> dict[str, str]:
    """A number opted out through the gateway: stop messages to it, without a reply."""
    service.opt_out(db, notice=notice)
    return {"status": "ok"}
