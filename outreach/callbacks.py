"""What every Africa's Talking callback shares: the URL key check."""

from __future__ import annotations

import hmac
import logging
from ipaddress import ip_address
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outreach.config import get_settings

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class GatewayForm(BaseModel):
    """A form posted by the gateway. NUL characters are dropped: no handset types one,
    and PostgreSQL cannot store them in text, so keeping them would turn a stray byte
    into a 500 and a retry storm."""

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nul(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in data.items()}
        return data


async def require_callback_key(
    request: Request, key: Annotated[str | None, Query(max_length=200)] = None
) -> None:
    """Refuse a callback from outside the allowlist or without the configured key (403)."""
    settings = get_settings()
    if settings.callback_allowed_ips:
        # request.client is the gateway's address: uvicorn has already applied
        # X-Forwarded-For, and only when the peer is one of the trusted proxies.
        peer = request.client.host if request.client else ""
        if not _allowed(peer, settings.callback_allowed_ips):
            log.warning("callback refused: %s is not allowed on %s", peer, request.url.path)
            raise HTTPException(status_code=403, detail="adresse non autorisée")
    expected = settings.callback_key
    if expected is None or not expected.get_secret_value():
        return
    given = (key or "").encode()
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        # Never log the key that was tried: it may be a near miss of the real one.
        log.warning("callback refused: bad or missing key on %s", request.url.path)
        raise HTTPException(status_code=403, detail="clé de rappel invalide")


def _allowed(peer: str, networks: list[Any]) -> bool:
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


# Async on purpose: a sync dependency costs every callback a trip through the thread pool.
CallbackKey = Depends(require_callback_key)


FORM = "application/x-www-form-urlencoded"


async def read_form(request: Request, model: type[M]) -> M:
    """The gateway's form, validated as `model` (422 with the usual message when it isn't).

    Africa's Talking posts small url-encoded forms; parsing the body directly skips the
    multipart machinery that `Form()` parameters go through on the busiest route.
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == FORM or not content_type:
        body = (await request.body()).decode("utf-8", errors="replace")
        fields: dict[str, str] = {}
        for name, value in parse_qsl(body, keep_blank_values=True):
            fields.setdefault(name, value)
    else:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI `requestBody` for a route that reads its form with `read_form`."""
    return {
        "requestBody": {
            "required": True,
            "content": {FORM: {"schema": model.model_json_schema(by_alias=True)}},
        }
    }


TOO_LARGE = "requête trop volumineuse"


class CallbackSizeLimit:
    """Refuse (413) a callback body larger than `callback_max_bytes`.

    A gateway form is a few hundred bytes. The declared length is checked before the
    body is read, and the bytes are counted as they arrive, so a body sent without a
    length cannot grow past the limit either. Every route under `/callbacks/` is covered,
    whichever way it reads its form.
    """

    def __init__(self, app: ASGIApp, prefix: str = "/callbacks/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = get_settings().callback_max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                response = JSONResponse({"detail": TOO_LARGE}, status_code=413)
                await response(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body read: answered as a 413 like any
                    # HTTPException, before the form is parsed or anything is stored.
                    raise HTTPException(status_code=413, detail=TOO_LARGE)
            return message

        await self.app(scope, counted, send)
