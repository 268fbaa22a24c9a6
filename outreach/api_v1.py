"""The REST API `/api/v1`: one router per business area, each in its package's `api.py`.

Every route needs a bearer token (`outreach.accounts.deps`), except getting one.
Add an area with one line in `ROUTERS`.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from swagger_ui_bundle import swagger_ui_path

from outreach.accounts.api import router as accounts_router
from outreach.accounts.deps import StaffUserDep
from outreach.appointments.api import router as appointments_router
from outreach.campaigns.api import router as campaigns_router
from outreach.chws.api import router as chws_router
from outreach.console.web import security_headers
from outreach.content.api import router as content_router
from outreach.inbound.api import router as inbox_router
from outreach.outbox.api import router as messages_router
from outreach.privacy.api import router as privacy_router
from outreach.registry.api import router as beneficiaries_router
from outreach.sites.api import router as sites_router

# The files the documentation page loads, from the installed bundle.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

# Swagger UI starts from a script inline in its page. Rather than allow inline scripts,
# the policy names that script by the hash of the bytes actually served, computed when
# the page is built, so a new FastAPI or bundle cannot leave a stale hash behind.
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def docs_page() -> tuple[bytes, dict[str, str]]:
    """The documentation page and the security headers that allow exactly its scripts."""
    page = bytes(
        get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="outreach API v1",
            swagger_js_url="/api/v1/docs/swagger-ui-bundle.js",
            swagger_css_url="/api/v1/docs/swagger-ui.css",
            swagger_favicon_url="/api/v1/docs/favicon-32x32.png",
        ).body
    )
    hashes = tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page.decode())
    )
    # The console's policy (Swagger UI also styles its widgets through style attributes),
    # with its own inline start-up script allowed by hash.
    headers = security_headers(script_hashes=hashes)
    return page, headers


ROUTERS: list[APIRouter] = [
    accounts_router,
    sites_router,
    chws_router,
    beneficiaries_router,
    privacy_router,
    messages_router,
    inbox_router,
    content_router,
    campaigns_router,
    appointments_router,
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

    # Field offices may have no way out to a CDN: the page's assets come from here.
    page, page_headers = docs_page()

    @api.get("/docs", include_in_schema=False)
    def docs(_user: StaffUserDep) -> HTMLResponse:
        return HTMLResponse(page, headers=page_headers)

    @api.get("/docs/{name}", include_in_schema=False)
    def docs_asset(name: str, _user: StaffUserDep) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise HTTPException(status_code=404, detail="fichier inconnu")
        return FileResponse(
            str(swagger_ui_path / name),
            media_type=DOCS_ASSETS[name],
            headers={
                "Cache-Control": "private, max-age=86400",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return api
