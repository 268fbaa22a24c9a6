"""The REST API `/api/v1`: one router per business area, each in its package's `api.py`.

Every route needs a bearer token (`outreach.accounts.deps`), except getting one.
Add an area with one line in `ROUTERS`.
"""

from __future__ import annotations

from fastapi import APIRouter

from outreach.accounts.api import router as accounts_router

ROUTERS: list[APIRouter] = [
    accounts_router,
]


def build_router() -> APIRouter:
    """Every area's routes under `/api/v1`."""
    api = APIRouter(prefix="/api/v1")
    for router in ROUTERS:
        api.include_router(router)
    return api
