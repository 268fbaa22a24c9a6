"""USSD callbacks from Africa's Talking."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute

from outreach.callbacks import CallbackKey, form_body, read_form
from outreach.db import SessionDep
from outreach.ussd import catalog, service
from outreach.ussd.engine import end
from outreach.ussd.schemas import UssdEvent, UssdRequest

log = logging.getLogger(__name__)


class AlwaysAnswerRoute(APIRoute):
    """Any failure after validation still answers the handset with a polite END screen.

    A 5xx or an empty body ends the session with an operator error on the phone, so
    the transaction is rolled back (by the session dependency) and the user told to retry.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except (HTTPException, RequestValidationError):
                raise
            except Exception:
                log.exception("ussd hop failed")
                return PlainTextResponse(end(catalog.text("unavailable", "fr")))

        return handler


router = APIRouter(route_class=AlwaysAnswerRoute, dependencies=[CallbackKey], tags=["callbacks"])


@router.post(
    "/callbacks/at/ussd",
    response_class=PlainTextResponse,
    response_model=None,
    openapi_extra=form_body(UssdRequest),
)
async def ussd(request: Request) -> PlainTextResponse:
    """One USSD hop: answer with `CON ` (continue) or `END ` (last screen)."""
    hop = await read_form(request, UssdRequest)
    return PlainTextResponse(await service.answer_in_thread(request=hop))


events_router = APIRouter(dependencies=[CallbackKey], tags=["callbacks"])


@events_router.post("/callbacks/at/ussd/events", response_model=None)
def ussd_event(event: Annotated[UssdEvent, Form()], db: SessionDep) -> dict[str, str]:
    """End-of-session notification, kept for drop-off reporting."""
    service.record_event(db, event=event)
    return {"status": "ok"}
