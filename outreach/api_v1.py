"""The REST API `/api/v1`: one router per business area, each in its package's `api.py`.

Every route needs a bearer token (`outreach.accounts.deps`), except getting one.
Add an area with one line in `ROUTERS`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from outreach.accounts.api import router as accounts_router
from outreach.accounts.deps import StaffUserDep
from outreach.chws.api import router as chws_router
from outreach.content.api import router as content_router
from outreach.inbound.api import router as inbox_router
from outreach.outbox.api import router as messages_router
from outreach.registry.api import router as beneficiaries_router
from outreach.sites.api import router as sites_router

ROUTERS: list[APIRouter] = [
    accounts_router,
    sites_router,
    chws_router,
    beneficiaries_router,
    messages_router,
    inbox_router,
    content_router,
]


def build_router() -> APIRouter:
    """Every area's routes under `/api/v1`, and their documentation for signed-in staff."""
    api = APIRouter(prefix="/api/v1")
    for router in ROUTERS:
        api.include_router(router)

    # The schema and its pages are not public either: a token or a console session.
    @api.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request, _user: StaffUserDep) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @api.get("/docs", include_in_schema=False)
    def docs(_user: StaffUserDep) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="outreach API v1")

    return api
