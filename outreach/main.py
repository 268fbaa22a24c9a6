"""The FastAPI application."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from messages import texts as content_texts
from outreach import models  # noqa: F401  (every table registered before first use)
from outreach.api_v1 import build_router as build_api_v1
from outreach.callbacks import CallbackSizeLimit
from outreach.config import get_settings
from outreach.console.router import install as install_console
from outreach.inbound.router import router as inbound_router
from outreach.logging import RequestLogContext, configure_logging
from outreach.outbox.metrics import OutboxCollector
from outreach.outbox.router import router as outbox_router
from outreach.ussd.router import events_router as ussd_events_router
from outreach.ussd.router import router as ussd_router


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in err.get('loc', ())[1:]) or 'body'}: {err.get('msg')}"
        for err in exc.errors()
    ]
    return JSONResponse(
        status_code=422,
        content={"detail": "requête invalide: " + "; ".join(problems), "errors": problems},
    )


async def _out_of_range(_request: Request, _exc: Exception) -> JSONResponse:
    # An id or number beyond what the database stores (a path id of 20 digits, say): the
    # request is wrong, not the server. SQLite's driver raises OverflowError, PostgreSQL
    # a DataError ("out of range"); the transaction is rolled back by the session.
    problem = "identifiant ou nombre hors limites"
    return JSONResponse(
        status_code=422, content={"detail": f"requête invalide: {problem}", "errors": [problem]}
    )


# What `_validation_error` answers (and a 422 raised by a route, without `errors`).
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "errors": {"type": "array", "items": {"type": "string"}, "title": "Errors"},
    },
    "required": ["detail"],
}


def _document_validation_errors(app: FastAPI) -> None:
    """Make the schema's default 422 the body we send, not FastAPI's list of error objects.

    Clients generated from the schema would otherwise fail to read every 422 we answer.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = build().get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
                schemas.pop("ValidationError", None)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


# A NUL as sent: a raw byte, percent-encoded (query, form), or a JSON escape not itself
# escaped. A literal "%00" typed in JSON is text, not a NUL.
_NUL_FORM = re.compile(rb"\x00|%00")
_NUL_JSON = re.compile(rb"\x00|(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
NUL_REFUSED = "requête invalide: caractère NUL interdit"


class RefuseNul:
    """Answer 422 to a request whose query or body carries a NUL character.

    PostgreSQL cannot store NUL in text, so such a value reached the database as a 500;
    no keyboard types one. The gateway callbacks drop it instead (`GatewayForm`), and
    multipart bodies (CSV files) are left to the import's own checks.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/callbacks/"):
            await self.app(scope, receive, send)
            return
        if _NUL_FORM.search(scope.get("query_string", b"")) or "\x00" in scope["path"]:
            await JSONResponse({"detail": NUL_REFUSED}, status_code=422)(scope, receive, send)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
        if not content_type.startswith((b"application/json", b"application/x-www-form-urlencoded")):
            await self.app(scope, receive, send)
            return
        # Staff forms and JSON bodies are small: read whole, then replayed to the route.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        pattern = _NUL_JSON if content_type.startswith(b"application/json") else _NUL_FORM
        if pattern.search(body):
            await JSONResponse({"detail": NUL_REFUSED}, status_code=422)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Parse the content library (about 0.4 s) before the first request rather than
    # during it: a USSD hop or a preview must not wait for it, and broken content stops
    # the start instead of a send.
    content_texts.load()
    yield


def create_app() -> FastAPI:
    """Build the API with every router."""
    settings = get_settings()
    configure_logging("api")
    # The API documentation is served under /api/v1 to signed-in staff only (api_v1).
    app = FastAPI(
        title="outreach",
        version="0.1.0",
        debug=settings.debug,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    _document_validation_errors(app)
    app.add_middleware(CallbackSizeLimit)
    app.add_middleware(RefuseNul)
    # Outermost: every answer, refusals included, is logged with its request's context.
    app.add_middleware(RequestLogContext)
    app.include_router(ussd_router)
    app.include_router(ussd_events_router)
    app.include_router(outbox_router)
    app.include_router(inbound_router)
    app.include_router(build_api_v1())
    install_console(app)
    if settings.simulator_enabled and settings.env != "production":
        from outreach.simulator.router import router as simulator_router

        app.include_router(simulator_router)

    registry = CollectorRegistry()
    registry.register(OutboxCollector())

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
