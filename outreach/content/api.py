"""`/api/v1/content`: the message library (read), and approvals by managers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from messages import texts
from messages.encoding import segment_info
from messages.texts import Message
from outreach.accounts.deps import Manager, Viewer
from outreach.api_common import (
    ERRORS,
    NOT_FOUND,
    Page,
    PageDep,
    client_ip,
    domain_errors,
    not_found,
)
from outreach.audit import service as audit
from outreach.content import service
from outreach.db import SessionDep

router = APIRouter(tags=["content"])


class TextOut(BaseModel):
    language: str
    text: str
    sha256: str
    encoding: str
    segments: int
    approved: bool


class ContentOut(BaseModel):
    key: str
    version: int
    programme: str
    kind: str
    offset_days: int | None
    topics: list[str]
    review_status: str
    approved: bool
    texts: list[TextOut]


class ApproveIn(BaseModel):
    language: Literal["fr", "bm"]
    text_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="le sha256 du texte lu (champ `sha256`)"
    )


def _out(message: Message, recorded: service.Approvals) -> ContentOut:
    approved = service.approved_languages(message, recorded)
    rendered = []
    for language in service.languages(message):
        text = service.sent_text(message, language)
        info = segment_info(text)
        rendered.append(
            TextOut(
                language=language,
                text=text,
                sha256=service.text_hash(text),
                encoding=info.encoding,
                segments=info.segments,
                approved=language in approved,
            )
        )
    return ContentOut(
        key=message.key,
        version=message.version,
        programme=message.programme,
        kind=message.kind,
        offset_days=message.offset_days,
        topics=list(message.topics),
        review_status=message.review_status,
        approved=len(approved) == len(rendered),
        texts=rendered,
    )


@router.get("/content", response_model=None, responses={200: {"model": Page[ContentOut]}, **ERRORS})
def list_content(
    _user: Viewer,
    db: SessionDep,
    page: PageDep,
    programme: Annotated[
        str | None, Query(max_length=20, description="pregnancy, infant, hygiene, …, operational")
    ] = None,
    approved: bool | None = None,
    q: Annotated[str | None, Query(max_length=60, description="clé contenant")] = None,
) -> Any:
    """Library messages by programme or topic set, approval, or key (the library is small)."""
    recorded = service.approvals(db)
    items = [_out(m, recorded) for m in sorted(texts.load().values(), key=lambda m: m.key)]
    if programme:
        items = [i for i in items if i.programme == programme]
    if approved is not None:
        items = [i for i in items if i.approved == approved]
    if q:
        items = [i for i in items if q.lower() in i.key.lower()]
    chosen = items[page.offset : page.offset + page.limit]
    return {
        "items": [i.model_dump(mode="json") for i in chosen],
        "total": len(items),
        "limit": page.limit,
        "offset": page.offset,
    }


def _message(key: str) -> Message:
    try:
        return service.get(key)
    except service.ContentNotFound as exc:
        raise not_found("contenu") from exc


@router.get(
    "/content/{key}",
    response_model=None,
    responses={200: {"model": ContentOut}, **ERRORS, **NOT_FOUND},
)
def get_content(key: str, _user: Viewer, db: SessionDep) -> Any:
    """One library message with its texts as sent, their hashes and approvals."""
    return _out(_message(key), service.approvals(db)).model_dump(mode="json")


@router.post(
    "/content/{key}/approve",
    response_model=None,
    responses={200: {"model": ContentOut}, **ERRORS, **NOT_FOUND},
)
def approve(key: str, body: ApproveIn, user: Manager, request: Request, db: SessionDep) -> Any:
    """Approve one language of a message, as read (manager); it may then be sent."""
    message = _message(key)
    with domain_errors():
        service.approve(
            db, key=key, language=body.language, text_sha256=body.text_sha256, user=user
        )
    audit.record(
        db,
        action="content.approve",
        user=user,
        object_type="content",
        object_id=key,
        detail={"language": body.language, "version": message.version, "sha256": body.text_sha256},
        ip=client_ip(request),
    )
    return _out(message, service.approvals(db)).model_dump(mode="json")
