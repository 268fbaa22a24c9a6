"""`/api/v1/inbox`: replies no keyword matched. Everyone reads; officers assign, answer, close."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from outreach.accounts import scopes
from outreach.accounts.deps import Officer, Viewer
from outreach.accounts.models import StaffUser
from outreach.api_common import (
    ERRORS,
    NOT_FOUND,
    Page,
    PageDep,
    client_ip,
    domain_errors,
    invalid,
    not_found,
    paginate,
)
from outreach.audit import service as audit
from outreach.db import SessionDep
from outreach.inbound import service
from outreach.inbound.models import InboundMessage

router = APIRouter(tags=["inbox"])

INBOX_INTENTS = [service.Kind.OTHER.value, service.Kind.NOT_A_PHONE.value]


class InboxOut(BaseModel):
    id: int
    from_number: str
    text: str
    beneficiary_id: int | None
    intent: str | None
    received_at: datetime
    assigned_user_id: int | None
    handled_at: datetime | None
    handled_by_user_id: int | None


class AssignIn(BaseModel):
    user_id: int | None = Field(description="le compte qui suit ce message (null: personne)")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=service.STAFF_REPLY_MAX_CHARS)


class ReplyOut(BaseModel):
    message: InboxOut
    outbound_message_id: int


def _out(row: InboundMessage) -> InboxOut:
    return InboxOut.model_validate(row, from_attributes=True)


def _get(db: Session, message_id: int, user: Any) -> InboundMessage:
    row = db.get(InboundMessage, message_id)
    if (
        row is None
        or row.intent not in INBOX_INTENTS
        or not scopes.sees_woman(db, user=user, beneficiary_id=row.beneficiary_id)
    ):
        raise not_found("message reçu")
    return row


@router.get("/inbox", response_model=None, responses={200: {"model": Page[InboxOut]}, **ERRORS})
def list_inbox(
    user: Viewer,
    db: SessionDep,
    page: PageDep,
    handled: bool = False,
    assigned_user_id: int | None = None,
) -> Any:
    """Messages staff should read, latest first: unhandled by default."""
    stmt = (
        select(InboundMessage)
        .where(col(InboundMessage.intent).in_(INBOX_INTENTS))
        .where(
            col(InboundMessage.handled_at).is_not(None)
            if handled
            else col(InboundMessage.handled_at).is_(None)
        )
        .order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc())
    )
    if assigned_user_id is not None:
        stmt = stmt.where(InboundMessage.assigned_user_id == assigned_user_id)
    # A user limited to some sites reads the replies of their women only.
    in_scope = scopes.beneficiary_ids_condition(
        InboundMessage.beneficiary_id, scopes.villages(db, user=user)
    )
    if in_scope is not None:
        stmt = stmt.where(in_scope)
    return paginate(db, stmt, page, _out)


@router.get(
    "/inbox/{message_id}",
    response_model=None,
    responses={200: {"model": InboxOut}, **ERRORS, **NOT_FOUND},
)
def get_inbox_message(message_id: int, user: Viewer, db: SessionDep) -> Any:
    """One inbox message."""
    return _out(_get(db, message_id, user)).model_dump(mode="json")


def _record(
    db: Session, request: Request, user: StaffUser, action: str, row: InboundMessage, **detail: Any
) -> None:
    audit.record(
        db,
        action=action,
        user=user,
        object_type="inbound_message",
        object_id=row.id,
        detail=detail,
        ip=client_ip(request),
    )


@router.post(
    "/inbox/{message_id}/assign",
    response_model=None,
    responses={200: {"model": InboxOut}, **ERRORS, **NOT_FOUND},
)
def assign(message_id: int, body: AssignIn, user: Officer, request: Request, db: SessionDep) -> Any:
    """Give the message to a staff user to follow up (officer)."""
    row = _get(db, message_id, user)
    if body.user_id is not None:
        target = db.get(StaffUser, body.user_id)
        if target is None or not target.active:
            raise invalid(f"compte {body.user_id} inconnu ou désactivé")
    service.assign(db, message=row, user_id=body.user_id)
    _record(db, request, user, "inbox.assign", row, user_id=body.user_id)
    return _out(row).model_dump(mode="json")


@router.post(
    "/inbox/{message_id}/handle",
    response_model=None,
    responses={200: {"model": InboxOut}, **ERRORS, **NOT_FOUND},
)
def handle(message_id: int, user: Officer, request: Request, db: SessionDep) -> Any:
    """Mark the message dealt with (officer)."""
    row = _get(db, message_id, user)
    assert user.id is not None
    service.mark_handled(db, message=row, user_id=user.id)
    _record(db, request, user, "inbox.handle", row)
    return _out(row).model_dump(mode="json")


@router.post(
    "/inbox/{message_id}/reply",
    status_code=201,
    response_model=None,
    responses={201: {"model": ReplyOut}, **ERRORS, **NOT_FOUND},
)
def reply(message_id: int, body: ReplyIn, user: Officer, request: Request, db: SessionDep) -> Any:
    """Answer by SMS (officer): queued in the outbox, sent by the workers; marks it handled."""
    row = _get(db, message_id, user)
    assert user.id is not None
    with domain_errors():
        outbound = service.staff_reply(db, message=row, text=body.text, user_id=user.id)
    assert outbound.id is not None
    # The reply's length, never its text.
    _record(
        db, request, user, "inbox.reply", row, outbound_message_id=outbound.id, chars=len(body.text)
    )
    return ReplyOut(message=_out(row), outbound_message_id=outbound.id).model_dump(mode="json")
