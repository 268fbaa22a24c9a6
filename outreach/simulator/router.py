"""The phone simulator at /simulator, for developers and trainers (never in production)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from outreach.simulator import service

router = APIRouter(prefix="/simulator", tags=["simulator"], include_in_schema=False)

# Fresh on every load: the simulator is edited while trainers use it.
_NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("", response_class=HTMLResponse)
def page(request: Request) -> HTMLResponse:
    """A basic phone that dials our own USSD callback."""
    html = service.render_page(root_path=request.scope.get("root_path", ""))
    return HTMLResponse(html, headers=_NO_CACHE)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(phone: str = "") -> HTMLResponse:
    """The SMS the emulator accepted for `phone`, as an HTML fragment (always 200)."""
    html = await service.render_inbox(phone)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    asset = service.static_asset(name)
    if asset is None:
        raise HTTPException(status_code=404, detail="fichier inconnu")
    path, media_type = asset
    return FileResponse(path, media_type=media_type, headers=_NO_CACHE)
