"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from messages import texts as content_texts
from outreach import models  # noqa: F401  (every table registered before first use)
from outreach.api_v1 import build_router as build_api_v1
from outreach.callbacks import CallbackSizeLimit
from outreach.config import get_settings
from outreach.console.router import install as install_console
from outreach.inbound.router import router as inbound_router
from outreach.logging import configure_logging, redact_access_log
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
    configure_logging()
    redact_access_log()
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
    app.add_middleware(CallbackSizeLimit)
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
