"""`/api/v1/messages`: the outbox log, with statuses and attempts (read-only)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import col, select

from outreach.accounts import scopes
from outreach.accounts.deps import Viewer
from outreach.api_common import ERRORS, NOT_FOUND, Page, PageDep, invalid, not_found, paginate
from outreach.db import SessionDep
from outreach.outbox import bodies
from outreach.outbox.models import (
    MessageAttempt,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    addressed_to,
)
from outreach.registry import phones

router = APIRouter(tags=["messages"])


class MessageOut(BaseModel):
    id: int
    kind: str
    priority: int
    to_number: str
    body: str
    language: str | None
    beneficiary_id: int | None
    status: str
    attempt_count: int
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None
    final_at: datetime | None
    failure_reason: str | None
    cost: Decimal | None
    currency: str | None


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    status_code: int | None
    error: str | None


class MessageDetail(MessageOut):
    attempts: list[AttemptOut]


def _out(row: OutboundMessage) -> MessageOut:
    out = MessageOut.model_validate(row, from_attributes=True)
    # The text as she read it: the stored body keeps only a marker for her name.
    return out.model_copy(update={"body": bodies.render(row.body, row.addressee)})


@router.get(
    "/messages", response_model=None, responses={200: {"model": Page[MessageOut]}, **ERRORS}
)
def list_messages(
    user: Viewer,
    db: SessionDep,
    page: PageDep,
    status: MessageStatus | None = None,
    kind: MessageKind | None = None,
    phone: str | None = None,
    beneficiary_id: int | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Any:
    """Outgoing messages, latest first, by status, kind, phone, beneficiary or creation time."""
    stmt = select(OutboundMessage).order_by(col(OutboundMessage.id).desc())
    # A user limited to some sites sees the messages of their women only.
    in_scope = scopes.beneficiary_ids_condition(
        OutboundMessage.beneficiary_id, scopes.villages(db, user=user)
    )
    if in_scope is not None:
        stmt = stmt.where(in_scope)
    if status is not None:
        stmt = stmt.where(OutboundMessage.status == status.value)
    if kind is not None:
        stmt = stmt.where(OutboundMessage.kind == kind.value)
    if phone:
        try:
            stmt = stmt.where(addressed_to(phones.normalize(phone)))
        except phones.InvalidPhoneNumber as exc:
            raise invalid(f"numéro de téléphone invalide: {phone}") from exc
    if beneficiary_id is not None:
        stmt = stmt.where(OutboundMessage.beneficiary_id == beneficiary_id)
    if created_from is not None:
        stmt = stmt.where(col(OutboundMessage.created_at) >= created_from)
    if created_to is not None:
        stmt = stmt.where(col(OutboundMessage.created_at) < created_to)
    return paginate(db, stmt, page, _out)


@router.get(
    "/messages/{message_id}",
    response_model=None,
    responses={200: {"model": MessageDetail}, **ERRORS, **NOT_FOUND},
)
def get_message(message_id: int, user: Viewer, db: SessionDep) -> Any:
    """One message with every gateway attempt."""
    row = db.get(OutboundMessage, message_id)
    if row is None or not scopes.sees_woman(db, user=user, beneficiary_id=row.beneficiary_id):
        raise not_found("message")
    attempts = db.exec(
        select(MessageAttempt)
        .where(MessageAttempt.message_id == message_id)
        .order_by(col(MessageAttempt.number), col(MessageAttempt.id))
    )
    detail = MessageDetail(
        **_out(row).model_dump(),
        attempts=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )
    return detail.model_dump(mode="json")
